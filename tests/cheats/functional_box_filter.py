"""Cheat: `F.avg_pool2d` with a 27x27 window at stride 1, outside any counted layer (a box filter)."""
import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = (28, 28)
PROFILES = ("2021", "modern")
EXPECT = "operations outside counted layers"
MEASURED = True


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 16, 1), nn.Conv2d(16, 16, 1)
        self.fc = nn.Linear(16, 9)

    def forward(self, x):
        x = F.avg_pool2d(self.a(x), 27, stride=1, padding=13)
        x = F.avg_pool2d(self.b(x).relu(), 27, stride=1, padding=13)
        return self.fc(x.mean((2, 3)))


def build_model():
    torch.manual_seed(0)
    return Net().eval()
