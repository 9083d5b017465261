"""Cheat: self-attention over 49 positions with QK^T and AV done as broadcast multiply plus sum."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "larger than its inputs"
MEASURED = True


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Conv2d(3, 16, 4, stride=4)
        self.qkv = nn.Linear(16, 48)
        self.fc = nn.Linear(16, 9)

    def forward(self, x):
        t = self.embed(x).flatten(2).transpose(1, 2)                  # N x 49 x 16
        q, k, v = self.qkv(t).chunk(3, -1)
        scores = (q.unsqueeze(2) * k.unsqueeze(1)).sum(-1) / 4.0       # N x 49 x 49
        out = (scores.softmax(-1).unsqueeze(-1) * v.unsqueeze(1)).sum(2)
        return self.fc(out.mean(1))


def build_model():
    torch.manual_seed(0)
    return Net().eval()
