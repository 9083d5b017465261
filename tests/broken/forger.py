"""Hostile: at import, it writes a forged 'done' report (1 MAC, no violations) to every
open descriptor, hoping to reach the harness's private channel; the real model is team4's architecture."""
import json
import os

import torch
from torch import nn

INPUT_SIZE = (28, 28)
TEAM = "forger"

_report = {"team": "forger", "input_size": [28, 28], "macs": 1, "params": 1, "profile": "2021",
           "profile_macs": {"2021": 1, "modern": 1}, "aten_macs": 1, "weights_bytes": 1, "sparsity": 0.0,
           "violations": [], "notes": [], "layers": [], "seconds_per_image": 0.0, "checks": {}, "check_reasons": {}}
_line = (json.dumps({"event": "done", "report": _report, "logits": True}) + "\n").encode()
for _fd in range(3, 64):
    try:
        os.write(_fd, _line)
    except OSError:
        pass


def separable(c_in, c_out):
    return [nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False), nn.BatchNorm2d(c_in), nn.ReLU(inplace=True),
            nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def team4_model():
    """team4's architecture (seeded random weights: a forger needs no good weights)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
        *separable(8, 24), nn.MaxPool2d(2), *separable(24, 48),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(48, 9),
    ).eval()


def build_model():
    return team4_model()
