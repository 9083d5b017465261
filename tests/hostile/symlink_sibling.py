"""Hostile: reads its same-stem siblings, which the test makes symlinks to the answer key, a test image and the cache."""
from pathlib import Path

INPUT_SIZE = (28, 28)


def build_model():
    found = []
    for sibling in sorted(Path(__file__).parent.iterdir()):
        try:
            found.append(f"{sibling.name}:{sibling.read_bytes()[:200]!r}")
        except OSError as e:
            found.append(f"{sibling.name}:blocked({type(e).__name__})")
    raise RuntimeError("probe siblings: " + " ".join(found))
