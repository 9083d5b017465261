"""Cheat: a counted Conv2d whose forward is replaced on the instance."""
import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "forward replaced on the instance"


def build_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 9))
    conv = model[0]
    big = torch.randn(8, 3, 7, 7) * 0.05
    conv.forward = lambda x: F.conv2d(x, big, padding=3)
    return model.eval()
