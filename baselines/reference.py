"""The reference model: a small purpose-built CNN for 28x28 digits.

Its MACs and macro-F1 are pinned in [tool.harness] (reference_macs, reference_f1);
`python baselines/train.py reference` reproduces `reference.pt`.
"""
from pathlib import Path

import torch
from torch import nn

INPUT_SIZE = (28, 28)
TEAM = "reference"
WEIGHTS = Path(__file__).with_suffix(".pt")


def block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def make_model(num_classes: int = 9) -> nn.Module:
    """The architecture, untrained."""
    return nn.Sequential(
        *block(3, 16), nn.MaxPool2d(2),
        *block(16, 32), nn.MaxPool2d(2),
        *block(32, 64),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
    )


def build_model() -> nn.Module:
    model = make_model()
    model.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    return model.eval()
