"""Cheat: attention across the batch (the sequence is the batch): length 1 when counted, 256 when predicting."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "batch"
PROFILES = ("modern",)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Conv2d(3, 32, 7, stride=7)
        self.attn = nn.MultiheadAttention(512, 4)
        self.fc = nn.Linear(512, 9)

    def forward(self, x):
        t = self.embed(x).flatten(1).unsqueeze(1)                     # N x 1 x 512: the batch as a sequence
        out, _ = self.attn(t, t, t, need_weights=False)
        return self.fc(out[:, 0])


def build_model():
    torch.manual_seed(0)
    return Net().eval()
