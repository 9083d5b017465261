"""Cheat: nn.MultiheadAttention with kdim = vdim = 3: ptflops 0.7.5 counts the key and value projections from 3, not from the real widths."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "more MACs than ptflops credits it"
PROFILES = ("modern",)
MEASURED = True


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Conv2d(3, 64, 4, stride=4)
        self.attn = nn.MultiheadAttention(64, 4, kdim=3, vdim=3, batch_first=True)
        self.kv = nn.Conv2d(3, 3, 1)
        self.fc = nn.Linear(64, 9)

    def forward(self, x):
        t = self.embed(x).flatten(2).transpose(1, 2)                   # N x 49 x 64
        kv = self.kv(x).flatten(2).transpose(1, 2)                     # N x 784 x 3: long keys, counted as short
        out, _ = self.attn(t, kv, kv, need_weights=False)
        return self.fc(out.mean(1))


def build_model():
    torch.manual_seed(0)
    return Net().eval()
