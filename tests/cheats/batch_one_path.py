"""Cheat: a cheap path for a batch of one image (what ptflops feeds)."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "behaves differently when counted"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.small = nn.Conv2d(3, 4, 3, padding=1)
        self.big = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.Conv2d(64, 4, 3, padding=1))
        self.fc = nn.Linear(4, 9)

    def forward(self, x):
        x = self.small(x) if x.shape[0] == 1 else self.big(x)
        return self.fc(x.mean((2, 3)))


def build_model():
    torch.manual_seed(0)
    return Net().eval()
