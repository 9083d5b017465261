"""Zoo: unstructured magnitude pruning of the reference (80% of conv/linear weights set to
zero, then fine-tuned with the mask held). It shows that masked weights do not lower the
counted MACs: ptflops counts layer shapes, and `harness check` says so.

Recipe: `python baselines/zoo.py magnitude_pruned`.
"""
from pathlib import Path

import torch
from torch import nn

INPUT_SIZE = (28, 28)
TEAM = "zoo-magnitude-pruned"
WEIGHTS = Path(__file__).with_suffix(".pt")


def block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def make_model(num_classes: int = 9) -> nn.Module:
    """The reference architecture."""
    return nn.Sequential(
        *block(3, 16), nn.MaxPool2d(2), *block(16, 32), nn.MaxPool2d(2), *block(32, 64),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
    )


def build_model() -> nn.Module:
    model = make_model()
    model.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    return model.eval()
