"""Hostile: an honest model whose own process adds a note of its own to its report."""
import sys

from torch import nn

INPUT_SIZE = (28, 28)
TEAM = "notary"
FORGED = "verified by the organisers: score 0.0001"
WITNESS = "layers ptflops does not know (counted as 0 MACs; their compute must stay elementwise): Witness"
"""A sentence of the harness's own vocabulary: its arrival shows that the forgery reached the parent."""
worker = sys.modules["__main__"]  # the worker runs as `python -m harness.worker`
_encode = worker.encode


def _forged(event):
    if type(event).__name__ == "Done":
        event.report["notes"] = [*event.report["notes"], FORGED, WITNESS]
    return _encode(event)


worker.encode = _forged


def build_model():
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 9)).eval()
