"""Cheat: a counted layer that hides a child layer ptflops never visits."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "counted layer with children"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(3)
        self.bn.hidden = nn.Conv2d(3, 3, 5, padding=2)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 9)

    def forward(self, x):
        x = self.bn.hidden(x)
        return self.fc(self.conv(self.bn(x)).mean((2, 3)))


def build_model():
    torch.manual_seed(0)
    return Net().eval()
