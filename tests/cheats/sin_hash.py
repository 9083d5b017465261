"""Cheat: parameter-free pseudo-random weights (a sin-hash of an arange made by sorting zeros) times the input."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "operations outside counted layers"
MEASURED = True


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 1, 1)
        self.fc = nn.Linear(16, 9)

    def forward(self, x):
        x = self.stem(x).flatten(1)                                   # N x 784
        index = torch.sort(x.new_zeros(16 * 784), stable=True)[1].to(x.dtype)   # an arange, from a factory
        w = torch.sin(index * 12.9898).mul(43758.5453).frac().sub(0.5).view(16, 784)
        return self.fc((x.unsqueeze(1) * w).sum(-1))                  # a 784 -> 16 layer nobody counts


def build_model():
    torch.manual_seed(0)
    return Net().eval()
