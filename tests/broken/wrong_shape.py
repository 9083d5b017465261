"""Returns 10 logits for a 9-class competition."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)


def build_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10)).eval()
