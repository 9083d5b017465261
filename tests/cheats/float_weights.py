"""Cheat: a 3x3 convolution written as shifted copies of the activation times Python float literals."""
import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "different positions of one tensor"
MEASURED = True

torch.manual_seed(0)
TAPS = [[[round(float(v), 3) for v in torch.randn(9)] for _ in range(4)] for _ in range(4)]  # baked in as Python floats


class FloatConv(nn.Module):
    def forward(self, x):
        h, w = x.shape[-2:]
        padded = F.pad(x, (1, 1, 1, 1))
        outs = []
        for o in range(4):
            acc = 0
            for c in range(4):
                for k in range(9):
                    i, j = divmod(k, 3)
                    acc = acc + padded[:, c:c + 1, i:i + h, j:j + w] * TAPS[o][c][k]
            outs.append(acc)
        return torch.cat(outs, 1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.hidden = FloatConv()
        self.fc = nn.Linear(4, 9)

    def forward(self, x):
        return self.fc(torch.relu(self.hidden(self.stem(x))).mean((2, 3)))


def build_model():
    torch.manual_seed(0)
    return Net().eval()
