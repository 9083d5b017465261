"""team7: a plain CNN on images downsized to 14x14 (a reduced input size)."""
from pathlib import Path

import torch
from torch import nn

INPUT_SIZE = (14, 14)
TEAM = "team7"
WEIGHTS = Path(__file__).with_suffix(".pt")


def make_model(num_classes: int = 9) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True), nn.MaxPool2d(2),  # 7x7
        nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes),
    )


def build_model() -> nn.Module:
    model = make_model()
    model.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    return model.eval()
