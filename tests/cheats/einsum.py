"""Cheat: a dense layer written with torch.einsum."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "outside any counted layer"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.weight = nn.Parameter(torch.randn(8, 28 * 28, 9) * 0.01)

    def forward(self, x):
        return torch.einsum("ncp,cpk->nk", self.conv(x).flatten(2), self.weight)


def build_model():
    torch.manual_seed(0)
    return Net().eval()
