"""Cheat: a large INPUT_SIZE pooled down for free: the elementwise allowance used to grow with the input."""
import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = (224, 224)
EXPECT = "operations outside counted layers"
MEASURED = True


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 7 * 7, 9)

    def forward(self, x):
        x = F.avg_pool2d(x * 1.5 + 0.2, 8)                              # 224 -> 28, outside any counted layer
        x = F.adaptive_avg_pool2d(self.conv(x), 7)
        return self.fc(x.flatten(1))


def build_model():
    torch.manual_seed(0)
    return Net().eval()
