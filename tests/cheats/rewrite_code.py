"""Cheat: swap the code object of ptflops' conv hook so that convolutions count nothing."""
import importlib

import torch
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "rewrote the code"


def _free(conv_module, input, output, extra_per_position_flops=0, transpose=False):
    conv_module.__dict__["_counted"] = True


_ops = importlib.import_module("ptf" + "lops.pytorch_ops")
getattr(_ops, "conv_flops_counter_hook").__code__ = _free.__code__


def build_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 9)).eval()
