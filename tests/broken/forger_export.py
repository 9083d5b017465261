"""Hostile, thorough: inside build_model it exports its real model where the harness looks for
the graph, then writes a forged 'done' report (1 MAC) to every open descriptor."""
import glob
import json
import os
from pathlib import Path

import torch
from torch import nn

INPUT_SIZE = (28, 28)
TEAM = "forger"

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
    model = team4_model()
    from harness.graph import export_model

    for folder in glob.glob("/tmp/harness-worker-*") + [os.getcwd()]:
        try:
            export_model(model, torch.zeros(2, 3, 28, 28), Path(folder))
        except Exception:
            pass
    report = {"team": "forger", "input_size": [28, 28], "macs": 1, "params": 1, "profile": "2021",
              "profile_macs": {"2021": 1, "modern": 1}, "aten_macs": 1, "weights_bytes": 1, "sparsity": 0.0,
              "violations": [], "notes": [], "layers": [], "seconds_per_image": 0.0, "checks": {}, "check_reasons": {}}
    line = (json.dumps({"event": "done", "report": report, "logits": False}) + "\n").encode()
    for fd in range(3, 64):
        try:
            os.write(fd, line)
        except OSError:
            pass
    return model
