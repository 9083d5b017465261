"""Honest: a U-Net-style encoder-decoder (upsampling, skip concatenation) with a classifier head."""
import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = (32, 32)


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1, self.enc2, self.bottom = block(3, 8), block(8, 16), block(16, 32)
        self.pool = nn.MaxPool2d(2)
        self.up1 = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec2 = block(32 + 16, 16)
        self.up2 = nn.ConvTranspose2d(16, 16, 2, stride=2)
        self.dec1 = block(16 + 8, 8)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(8 * 16, 9))

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        b = self.bottom(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up1(b), e2], 1))
        d1 = self.dec1(torch.cat([self.up2(d2), e1], 1))
        d1 = d1 + F.interpolate(d2, scale_factor=2.0, mode="bilinear")[:, :8]  # a parameter-free upsampled skip
        return self.head(d1)


def build_model():
    torch.manual_seed(0)
    return UNet().eval()
