"""Zoo: a ShuffleNet-style network (group convolutions + channel shuffle) at 20x20 input.

Recipe: `python baselines/zoo.py shufflenet` (trained from scratch, seeded).
"""
from pathlib import Path

import torch
from torch import nn

INPUT_SIZE = (20, 20)
TEAM = "zoo-shufflenet"
WEIGHTS = Path(__file__).with_suffix(".pt")


class ChannelShuffle(nn.Module):
    """Interleave the channels of `groups` groups so that information crosses them."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ShuffleUnit(nn.Module):
    """1x1 group conv -> shuffle -> 3x3 depthwise -> 1x1 group conv, with a residual."""

    def __init__(self, channels: int, groups: int = 4):
        super().__init__()
        mid = channels // 2
        self.reduce = nn.Sequential(nn.Conv2d(channels, mid, 1, groups=groups, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True))
        self.shuffle = ChannelShuffle(groups)
        self.depthwise = nn.Sequential(nn.Conv2d(mid, mid, 3, padding=1, groups=mid, bias=False), nn.BatchNorm2d(mid))
        self.expand = nn.Sequential(nn.Conv2d(mid, channels, 1, groups=groups, bias=False), nn.BatchNorm2d(channels))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(x + self.expand(self.depthwise(self.shuffle(self.reduce(x)))))


def make_model(num_classes: int = 9) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),  # 10x10
        ShuffleUnit(32), nn.MaxPool2d(2),                                                                  # 5x5
        ShuffleUnit(32), ShuffleUnit(32),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes),
    )


def build_model() -> nn.Module:
    model = make_model()
    model.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    return model.eval()
