"""Honest: a binary gate `(a > 0.1).float()` (dtype casts and `_assert_tensor_metadata` are plumbing) and
convolutions with reflect, circular and replicate padding."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1, padding_mode="reflect")
        self.bn = nn.BatchNorm2d(16)
        self.mid = nn.Conv2d(16, 32, 3, stride=2, padding=1, padding_mode="circular")
        self.out = nn.Conv2d(32, 32, 3, padding=1, padding_mode="replicate")
        self.fc = nn.Linear(32, 9)

    def forward(self, x):
        a = self.bn(self.stem(x))
        a = a * (a > 0.1).float()
        a = self.out(torch.relu(self.mid(a)))
        return self.fc(a.mean((2, 3)))


def build_model():
    torch.manual_seed(0)
    return Net().eval()
