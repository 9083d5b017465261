"""Hostile: at import, it writes a forged 'done' report (1 MAC, no violations) to every
open descriptor, hoping to reach the harness's private channel; the real model is team4's."""
import json
import os
from pathlib import Path

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

_spec = __import__("importlib.util").util.spec_from_file_location(
    "team4_copy", Path(__file__).resolve().parent.parent.parent / "submissions" / "team4.py")
_team4 = __import__("importlib.util").util.module_from_spec(_spec)
_spec.loader.exec_module(_team4)


def build_model():
    return _team4.build_model()
