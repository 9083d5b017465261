"""Hostile: whatever it read, it tries to carry out in a long, multi-line error message."""
from pathlib import Path

INPUT_SIZE = (28, 28)
ROOT = Path(__file__).resolve().parents[2]


def build_model():
    try:
        key = (ROOT / "data" / "answers.csv").read_text()
    except OSError as e:
        key = f"unreadable ({type(e).__name__})"
    raise RuntimeError("probe exfil: " + "x" * 400 + "\n" + key + "\n" + key)
