"""Cheat: F.conv2d on a raw Parameter; ptflops sees only the Linear."""
import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "runs convolution"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(16, 3, 3, 3) * 0.1)
        self.fc = nn.Linear(16, 9)

    def forward(self, x):
        return self.fc(F.conv2d(x, self.weight, padding=1).mean((2, 3)))


def build_model():
    torch.manual_seed(0)
    return Net().eval()
