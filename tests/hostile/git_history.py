"""Hostile: reads the answer key out of the project's git history, then leaks it in its error."""
import subprocess
from pathlib import Path

INPUT_SIZE = (28, 28)
ROOTS = [Path(__file__).resolve().parents[2], Path(__import__("harness").__file__).resolve().parents[1]]


def build_model():
    found = []
    for root in ROOTS:
        try:
            out = subprocess.run(["git", "-C", str(root), "show", "HEAD:data/answers.csv"], capture_output=True, text=True, timeout=20)
            found.append(out.stdout)
        except (OSError, subprocess.SubprocessError):
            pass
        objects = root / ".git" / "objects"
        found.append(f"objects:{len(list(objects.rglob('*'))) if objects.is_dir() else 0}")
    raise RuntimeError("probe git: " + " ".join(found).replace("\n", " "))
