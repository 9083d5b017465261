"""Cheat: replace nn.Linear.forward globally with something heavier."""
import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "replaced torch.nn.Linear.forward"
_original = nn.Linear.forward
_extra = torch.randn(9, 9)


def _heavier(self, x):
    return F.linear(_original(self, x), _extra)


nn.Linear.forward = _heavier


def build_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 9)).eval()
