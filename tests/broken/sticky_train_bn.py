"""BatchNorm that stays in train mode: its running statistics move during inference."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)


class Net(nn.Sequential):
    def train(self, mode: bool = True):
        return super().train(True)  # ignores eval()


def build_model():
    torch.manual_seed(0)
    return Net(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 9))
