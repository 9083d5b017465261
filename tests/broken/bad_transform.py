"""A transform that forgets to resize: wrong shape for INPUT_SIZE."""
import albumentations as A

INPUT_SIZE = (20, 20)


def transform(input_size):
    return A.Compose([A.Normalize()])


def build_model():
    from torch import nn

    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 9)).eval()
