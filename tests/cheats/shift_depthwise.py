"""Cheat: a 3x3 depthwise convolution done as nine shifted copies, each multiplied by a weight and summed."""
import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "different positions of one tensor"
MEASURED = True


class ShiftDepthwise(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(9, 1, channels, 1, 1) * 0.3)

    def forward(self, x):
        h, w = x.shape[-2:]
        padded = F.pad(x, (1, 1, 1, 1))
        out = 0
        for k in range(9):
            i, j = divmod(k, 3)
            out = out + padded[:, :, i:i + h, j:j + w] * self.weight[k, 0]
        return out


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 1)
        self.dw = ShiftDepthwise(16)
        self.pw = nn.Conv2d(16, 16, 1)
        self.dw2 = ShiftDepthwise(16)
        self.fc = nn.Linear(16, 9)

    def forward(self, x):
        x = self.pw(torch.relu(self.dw(self.stem(x))))
        return self.fc(torch.relu(self.dw2(x)).mean((2, 3)))


def build_model():
    torch.manual_seed(0)
    return Net().eval()
