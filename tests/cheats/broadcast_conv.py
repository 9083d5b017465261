"""Cheat: a 1x1 convolution emulated by a broadcast multiply and a sum."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "larger than its inputs"
MEASURED = True


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.mix = nn.Parameter(torch.randn(32, 16, 1, 1) * 0.1)
        self.fc = nn.Linear(32, 9)

    def forward(self, x):
        x = self.conv(x)                                   # N x 16 x H x W
        x = (x.unsqueeze(1) * self.mix.unsqueeze(0)).sum(2)  # N x 32 x H x W, a 1x1 conv in disguise
        return self.fc(x.mean((2, 3)))


def build_model():
    torch.manual_seed(0)
    return Net().eval()
