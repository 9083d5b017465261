"""A classifier whose weights are NaN."""
import torch
from torch import nn

INPUT_SIZE = (28, 28)


def build_model():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 9))
    with torch.no_grad():
        model[3].weight.fill_(float("nan"))
    return model.eval()
