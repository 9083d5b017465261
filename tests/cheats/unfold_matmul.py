"""Cheat: im2col with F.unfold, then a batched matmul: a 3x3 convolution in disguise."""
import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "outside any counted layer"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(16, 27) * 0.1)
        self.fc = nn.Linear(16, 9)

    def forward(self, x):
        cols = F.unfold(x, 3, padding=1)             # N x 27 x 784
        return self.fc(torch.matmul(self.weight, cols).mean(2))


def build_model():
    torch.manual_seed(0)
    return Net().eval()
