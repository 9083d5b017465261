"""Cheat: convolutions kept in a plain Python list are never registered or hooked."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "unregistered Conv2d"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = [nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(16, 16, 3, padding=1)]
        self.fc = nn.Linear(16, 9)

    def forward(self, x):
        for conv in self.hidden:
            x = conv(x)
        return self.fc(x.mean((2, 3)))


def build_model():
    torch.manual_seed(0)
    return Net().eval()
