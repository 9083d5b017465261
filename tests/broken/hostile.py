"""team4's model, plus an attack on the harness: it patches the scorer and forges a row.

HOSTILE_LEADERBOARD names the file to forge; HOSTILE_ANSWERS the answer key to read.
"""
import os
from pathlib import Path


INPUT_SIZE = (28, 28)
TEAM = "hostile"

try:
    import sklearn.metrics

    sklearn.metrics.f1_score = lambda *args, **kwargs: 1.0
except Exception:
    pass

_target = os.environ.get("HOSTILE_LEADERBOARD")
if _target:
    try:
        with open(_target, "a") as f:
            f.write("999,2026-01-01T00:00:00+00:00,hostile,scored,,,x,x,x,28x28,1,1,2021,{},1.0,1.0,-9,-9,1,1,x,x,,,,,,,\n")
    except OSError:
        pass

_spec = __import__("importlib.util").util.spec_from_file_location(
    "team4_copy", Path(__file__).resolve().parent.parent.parent / "submissions" / "team4.py")
_team4 = __import__("importlib.util").util.module_from_spec(_spec)
_spec.loader.exec_module(_team4)


def build_model():
    answers = os.environ.get("HOSTILE_ANSWERS")
    if answers:
        try:
            leaked = Path(answers).read_text()
        except OSError:
            leaked = ""
        if leaked.strip():
            raise RuntimeError(f"read {len(leaked)} bytes of the answer key")
    return _team4.build_model()
