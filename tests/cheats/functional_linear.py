"""Cheat: F.linear with raw parameters (ptflops' functional patch skips it)."""
import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "outside any counted layer"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.w = nn.Parameter(torch.randn(64, 4 * 28 * 28) * 0.01)
        self.b = nn.Parameter(torch.zeros(64))
        self.fc = nn.Linear(64, 9)

    def forward(self, x):
        return self.fc(F.linear(self.conv(x).flatten(1), self.w, self.b))


def build_model():
    torch.manual_seed(0)
    return Net().eval()
