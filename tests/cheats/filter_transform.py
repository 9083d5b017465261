"""Cheat: compute in the transform: upscale, blur with a 31x31 kernel, emboss and sharpen, then resize down (the parent runs it, nobody counts it)."""
import albumentations as A
from torch import nn

INPUT_SIZE = (28, 28)
EXPECT = "only geometric and normalising transforms are allowed"
TRANSFORM_ONLY = True


def transform(input_size):
    return A.Compose([A.Resize(224, 224), A.GaussianBlur(blur_limit=(31, 31), p=1.0), A.Emboss(p=1.0),
                      A.Sharpen(p=1.0), A.Resize(*input_size), A.Normalize()])


def build_model():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 9)).eval()
