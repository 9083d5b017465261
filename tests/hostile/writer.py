"""Hostile: tries to write outside its temporary directory: the board, other teams' files, the harness, home."""
import os
import tempfile
from pathlib import Path

INPUT_SIZE = (28, 28)
ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__import__("harness").__file__).resolve().parent


def build_model():
    results = []
    for target in (ROOT / "leaderboard.csv", ROOT / "submissions" / "hostile-was-here.py", HARNESS / "scoring.py",
                   Path(__file__).resolve().parent / "hostile-was-here.txt", Path(__import__("torch").__file__).parent / "hostile.py",
                   Path("/root/hostile-was-here"), Path("/work/hostile-was-here")):
        try:
            with open(target, "a") as f:
                f.write("# hostile\n")
            results.append(f"{target.name}:WRITTEN")
        except OSError:
            results.append(f"{target.name}:denied")
    with tempfile.NamedTemporaryFile(dir=tempfile.gettempdir()) as f:
        f.write(b"ok")
        results.append("tmp:ok")
    raise RuntimeError("probe write: " + " ".join(results))
