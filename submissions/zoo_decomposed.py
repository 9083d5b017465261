"""Zoo: decomposition. The reference's two inner 3x3 convolutions (16->32, 32->64) each
replaced by a depthwise 3x3 + pointwise 1x1 pair, the other layers kept, then fine-tuned.

Recipe: `python baselines/zoo.py decomposed`.
"""
from pathlib import Path

import torch
from torch import nn

INPUT_SIZE = (28, 28)
TEAM = "zoo-decomposed"
WEIGHTS = Path(__file__).with_suffix(".pt")


def decomposed(c_in: int, c_out: int) -> list[nn.Module]:
    """What replaces nn.Conv2d(c_in, c_out, 3, padding=1): 9*c_in + c_in*c_out MACs per pixel, not 9*c_in*c_out."""
    return [nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False), nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def make_model(num_classes: int = 9) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        *decomposed(16, 32), nn.MaxPool2d(2),
        *decomposed(32, 64),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
    )


def build_model() -> nn.Module:
    model = make_model()
    model.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    return model.eval()
