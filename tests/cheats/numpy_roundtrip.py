"""Cheat: a dense layer computed in numpy and brought back with torch.from_numpy."""
import numpy as np
import torch
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "no torch op produced"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(64, 9)
        self.hidden = np.random.default_rng(0).standard_normal((4 * 28 * 28, 64)).astype(np.float32) * 0.01

    def forward(self, x):
        features = self.conv(x).flatten(1).detach().cpu().numpy() @ self.hidden
        return self.fc(torch.from_numpy(features))


def build_model():
    torch.manual_seed(0)
    return Net().eval()
