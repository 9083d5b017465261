"""Cheat: a TorchScript module, opaque to ptflops' hooks."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "TorchScript"


def build_model():
    torch.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 9)).eval()
    return torch.jit.script(body)
