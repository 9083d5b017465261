"""Cheat: a registered conv called through .forward(), which skips every hook."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "runs convolution"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 32, 3, padding=1)
        self.fc = nn.Linear(32, 9)

    def forward(self, x):
        return self.fc(self.conv.forward(x).mean((2, 3)))


def build_model():
    torch.manual_seed(0)
    return Net().eval()
