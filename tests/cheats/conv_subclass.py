"""Cheat: a Conv2d subclass doing extra work; ptflops counts it as 0 MACs."""
import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "subclass of Conv2d"


class MyConv(nn.Conv2d):
    def forward(self, x):
        return F.relu(super().forward(x)) + super().forward(x)


def build_model():
    torch.manual_seed(0)
    return nn.Sequential(MyConv(3, 16, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 9)).eval()
