"""Hostile: the test saves it as `*.py` next to another team's files; it lists what its worker sees."""
import os
from pathlib import Path

INPUT_SIZE = (28, 28)
TEAM = "globber"


def build_model():
    raise RuntimeError("probe glob: " + " ".join(sorted(os.listdir(Path(__file__).parent))))
