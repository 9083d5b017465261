"""Zoo: a depthwise-separable student distilled from the reference.

Recipe: `python baselines/zoo.py distilled`, loss = alpha * T^2 * KL(softmax(teacher/T) ||
softmax(student/T)) + (1 - alpha) * cross-entropy with alpha = 0.7 and T = 4.
"""
from pathlib import Path

import torch
from torch import nn

INPUT_SIZE = (28, 28)
TEAM = "zoo-distilled"
WEIGHTS = Path(__file__).with_suffix(".pt")
DISTILLATION = {"alpha": 0.7, "temperature": 4.0, "teacher": "baselines/reference.py"}


def separable(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False), nn.BatchNorm2d(c_in), nn.ReLU(inplace=True),
        nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    ]


def make_model(num_classes: int = 9) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 12, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(12), nn.ReLU(inplace=True),  # 14x14
        *separable(12, 24), nn.MaxPool2d(2),                                                                # 7x7
        *separable(24, 48), *separable(48, 48),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(48, num_classes),
    )


def build_model() -> nn.Module:
    model = make_model()
    model.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    return model.eval()
