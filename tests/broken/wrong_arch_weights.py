"""Loads team4's weights into another architecture."""
from pathlib import Path

import torch
from torch import nn

INPUT_SIZE = (28, 28)


def build_model():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 9))
    weights = Path(__file__).resolve().parent.parent.parent / "submissions" / "team4.pt"
    model.load_state_dict(torch.load(weights, weights_only=True))
    return model.eval()
