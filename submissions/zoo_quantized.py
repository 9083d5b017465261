"""Zoo: 8-bit weight quantization of the reference, for file size only.

Every floating tensor of the reference is stored as uint8 with a per-tensor min-max
range and turned back into float32 when the model is built: the weights file is about
4x smaller, the model and its MACs are exactly the reference's.
Recipe: `python baselines/zoo.py quantized`.
"""
from pathlib import Path

import torch
from torch import nn

INPUT_SIZE = (28, 28)
TEAM = "zoo-quantized"
WEIGHTS = Path(__file__).with_suffix(".pt")


def block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def make_model(num_classes: int = 9) -> nn.Module:
    """The reference architecture."""
    return nn.Sequential(
        *block(3, 16), nn.MaxPool2d(2), *block(16, 32), nn.MaxPool2d(2), *block(32, 64),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
    )


def dequantize(packed: dict) -> dict:
    """uint8 codes + (min, scale) per tensor -> a float32 state dict."""
    state, offset = {}, 0
    for name, shape, (low, scale) in zip(packed["names"], packed["shapes"], packed["ranges"].tolist()):
        n = int(torch.tensor(shape).prod()) if shape else 1
        codes = packed["codes"][offset:offset + n].float()
        state[name] = (codes * scale + low).reshape(shape)
        offset += n
    state.update(packed["integers"])
    return state


def build_model() -> nn.Module:
    model = make_model()
    model.load_state_dict(dequantize(torch.load(WEIGHTS, map_location="cpu", weights_only=True)))
    return model.eval()
