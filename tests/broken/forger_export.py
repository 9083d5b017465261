"""Hostile, thorough: inside build_model it exports its real model where the harness looks for
the graph, then writes a forged 'done' report (1 MAC) to every open descriptor."""
import glob
import json
import os
from pathlib import Path

import torch

INPUT_SIZE = (28, 28)
TEAM = "forger"

_spec = __import__("importlib.util").util.spec_from_file_location(
    "team4_copy", Path(__file__).resolve().parent.parent.parent / "submissions" / "team4.py")
_team4 = __import__("importlib.util").util.module_from_spec(_spec)
_spec.loader.exec_module(_team4)


def build_model():
    model = _team4.build_model()
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
