"""Honest: depthwise-separable blocks with squeeze-excitation (Hardsigmoid gate), Hardswish,
a residual add and a channel shuffle, at 32x32: the MobileNetV3 / ShuffleNet style."""
import torch
from torch import nn

INPUT_SIZE = (32, 32)


class SqueezeExcite(nn.Module):
    def __init__(self, c: int, r: int = 4):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = nn.Conv2d(c, c // r, 1), nn.Conv2d(c // r, c, 1)
        self.act, self.gate = nn.ReLU(), nn.Hardsigmoid()

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))


class Block(nn.Module):
    def __init__(self, c: int, groups: int = 2):
        super().__init__()
        self.groups = groups
        self.dw = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.se = SqueezeExcite(c)
        self.pw = nn.Conv2d(c, c, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.act = nn.Hardswish()

    def forward(self, x):
        y = self.act(self.bn1(self.dw(x)))
        y = self.act(self.bn2(self.pw(self.se(y))))
        n, c, h, w = y.shape
        y = y.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)  # channel shuffle
        return x + y


def build_model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.Hardswish(),
        Block(16), nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32), nn.Hardswish(), nn.MaxPool2d(2),
        Block(32), Block(32), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 9),
    ).eval()
