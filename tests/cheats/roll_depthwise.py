"""Cheat: a MobileNet-style net whose 3x3 depthwise layers are torch.roll copies times per-channel taps (a few % of its MACs)."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "different positions of one tensor"
MEASURED = True


class RollDepthwise(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.taps = nn.Parameter(torch.randn(9, channels, 1, 1) * 0.3)

    def forward(self, x):
        out = 0
        for k in range(9):
            i, j = divmod(k, 3)
            out = out + torch.roll(x, (i - 1, j - 1), (2, 3)) * self.taps[k]
        return out


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        layers = [nn.Conv2d(3, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU()]
        for _ in range(3):
            layers += [RollDepthwise(64), nn.BatchNorm2d(64), nn.ReLU(), nn.Conv2d(64, 64, 1), nn.BatchNorm2d(64), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(64, 9)

    def forward(self, x):
        return self.fc(self.body(x).mean((2, 3)))


def build_model():
    torch.manual_seed(0)
    return Net().eval()
