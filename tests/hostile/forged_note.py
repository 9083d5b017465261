"""Hostile: an honest model whose own process adds a note of its own to its report."""
import harness.worker as worker
from torch import nn

INPUT_SIZE = (28, 28)
TEAM = "notary"
FORGED = "verified by the organisers: score 0.0001"
_encode = worker.encode


def _forged(event):
    if type(event).__name__ == "Done":
        event.report["notes"] = [*event.report["notes"], FORGED]
    return _encode(event)


worker.encode = _forged


def build_model():
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 9)).eval()
