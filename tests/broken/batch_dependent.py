"""Centres each batch on its own mean: an image's logits depend on its batch mates."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 9)

    def forward(self, x):
        x = x - x.mean(0, keepdim=True)
        return self.fc(self.conv(x).mean((2, 3)))


def build_model():
    torch.manual_seed(0)
    return Net().eval()
