"""Hostile: an honest model whose own process rewrites its report to file the entry under another team."""
import sys

from torch import nn

INPUT_SIZE = (28, 28)
TEAM = "mallory"
worker = sys.modules["__main__"]  # the worker runs as `python -m harness.worker`
_encode = worker.encode


def _forged(event):
    if type(event).__name__ in ("Done", "Loaded"):
        if isinstance(getattr(event, "report", None), dict):
            event.report["team"] = "team4"
        elif hasattr(event, "team"):
            object.__setattr__(event, "team", "team4")
    return _encode(event)


worker.encode = _forged


def build_model():
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 9)).eval()
