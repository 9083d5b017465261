"""Zoo: layer pruning. The reference without its middle conv unit (conv 16->32, BN, ReLU):
the first unit, the last BatchNorm and the classifier keep the reference's weights, the
last conv is re-made for 16 input channels, then everything is fine-tuned.

Recipe: `python baselines/zoo.py layer_pruned`.
"""
from pathlib import Path

import torch
from torch import nn

INPUT_SIZE = (28, 28)
TEAM = "zoo-layer-pruned"
WEIGHTS = Path(__file__).with_suffix(".pt")


def make_model(num_classes: int = 9) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True), nn.MaxPool2d(4),  # 7x7
        nn.Conv2d(16, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
    )


def build_model() -> nn.Module:
    model = make_model()
    model.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    return model.eval()
