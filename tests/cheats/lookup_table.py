"""Cheat: naive Bayes over 2x2 binary patches as a table lookup, table[idx].sum(): no MAC at all."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "operations outside counted layers"
MEASURED = True


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.register_buffer("table", torch.randn(27 * 27 * 16, 9) * 0.1)   # log-likelihood per (position, pattern)

    def forward(self, x):
        b = (x[:, 0] > 0).long()                                         # N x 28 x 28
        pattern = b[:, :-1, :-1] + 2 * b[:, 1:, :-1] + 4 * b[:, :-1, 1:] + 8 * b[:, 1:, 1:]
        idx = pattern.flatten(1) + 16 * torch.arange(27 * 27)
        return self.table[idx].sum(1)                                    # N x 9


def build_model():
    return Net().eval()
