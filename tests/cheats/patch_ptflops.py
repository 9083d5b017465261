"""Cheat: at import, make ptflops count every convolution as free."""
import importlib

import torch
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "layer table"

_ops = importlib.import_module("ptf" + "lops.pytorch_ops")
_ops.MODULES_MAPPING[nn.Conv2d] = lambda module, inputs, output: None


def build_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 9)).eval()
