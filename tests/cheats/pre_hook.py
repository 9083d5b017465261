"""Cheat: the real work happens in a forward pre-hook of a counted layer."""
import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "more MACs than ptflops credits"


def build_model():
    torch.manual_seed(0)
    hidden = torch.randn(3, 3, 5, 5) * 0.1
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 9))
    model[0].register_forward_pre_hook(lambda module, args: (F.conv2d(args[0], hidden, padding=2),))
    return model.eval()
