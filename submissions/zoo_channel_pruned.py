"""Zoo: channel pruning. The reference with half of every conv's filters removed (those of
smallest L1 norm), the layer shapes shrunk to match (16/32/64 -> 8/16/32), then fine-tuned.

Recipe: `python baselines/zoo.py channel_pruned`.
"""
from pathlib import Path

import torch
from torch import nn

INPUT_SIZE = (28, 28)
TEAM = "zoo-channel-pruned"
WEIGHTS = Path(__file__).with_suffix(".pt")
WIDTHS = (8, 16, 32)


def block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def make_model(num_classes: int = 9, widths=WIDTHS) -> nn.Module:
    a, b, c = widths
    return nn.Sequential(
        *block(3, a), nn.MaxPool2d(2),
        *block(a, b), nn.MaxPool2d(2),
        *block(b, c),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes),
    )


def build_model() -> nn.Module:
    model = make_model()
    model.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    return model.eval()
