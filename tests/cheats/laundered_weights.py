"""Cheat: weights laundered through a counted nn.ReLU (relu(W) - relu(-W)), then a linear layer done as multiply and sum."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "operations outside counted layers"
MEASURED = True


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 1, 1)
        self.relu = nn.ReLU()
        self.weight = nn.Parameter(torch.randn(9, 784) * 0.05)

    def forward(self, x):
        x = self.stem(x).flatten(1)                                    # N x 784
        both = self.relu(torch.cat([0 * x[:1, :1].expand(1, 784), self.weight, -self.weight]))
        w = both[1:10] - both[10:19]                                  # the weights again, now "activations"
        return (x.unsqueeze(1) * w.unsqueeze(0)).sum(-1)              # N x 9: a Linear in disguise


def build_model():
    torch.manual_seed(0)
    return Net().eval()
