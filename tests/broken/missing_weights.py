"""Its weights file was never committed."""
from pathlib import Path

import torch
from torch import nn

INPUT_SIZE = (28, 28)


def build_model():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 9))
    model.load_state_dict(torch.load(Path(__file__).with_suffix(".pt"), weights_only=True))
    return model.eval()
