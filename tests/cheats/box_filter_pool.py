"""Cheat: stride-1 pooling layers with huge windows (27x27 box filters) between 1x1 convs.

ptflops credits a pooling layer its input elements; a 27x27 window at stride 1 reads 729
inputs per output. Found by the red team: 18k MACs credited for about 9M real adds.
"""
import torch
from torch import nn

INPUT_SIZE = (28, 28)
PROFILES = ("2021", "modern")
EXPECT = "beyond what ptflops credits its pooling"
MEASURED = True


def build_model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 1), nn.AvgPool2d(27, stride=1, padding=13), nn.ReLU(),
        nn.Conv2d(8, 8, 1), nn.AdaptiveMaxPool2d((56, 56)), nn.MaxPool2d(31, stride=2, padding=15),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 9),
    ).eval()
