"""Honest: a ShuffleNet v1 unit with group convolutions and a ChannelShuffle module."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)


class ChannelShuffle(nn.Module):
    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class Unit(nn.Module):
    def __init__(self, channels: int, groups: int = 4):
        super().__init__()
        mid = channels // 4
        self.reduce = nn.Sequential(nn.Conv2d(channels, mid, 1, groups=groups, bias=False), nn.BatchNorm2d(mid), nn.ReLU())
        self.shuffle = ChannelShuffle(groups)
        self.depthwise = nn.Sequential(nn.Conv2d(mid, mid, 3, padding=1, groups=mid, bias=False), nn.BatchNorm2d(mid))
        self.expand = nn.Sequential(nn.Conv2d(mid, channels, 1, groups=groups, bias=False), nn.BatchNorm2d(channels))
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(x + self.expand(self.depthwise(self.shuffle(self.reduce(x)))))


def build_model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        Unit(32), Unit(32), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 9),
    ).eval()
