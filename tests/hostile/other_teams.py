"""Hostile: reads other teams' submission files and weights, and whatever else of the project it can find."""
from pathlib import Path

INPUT_SIZE = (28, 28)
ROOT = Path(__file__).resolve().parents[2]


def build_model():
    seen = []
    for folder in (ROOT / "submissions", ROOT / "baselines", ROOT / "data", ROOT / "tests", Path.home(), Path("/root")):
        try:
            names = sorted(p.name for p in folder.iterdir())
        except OSError:
            names = []
        seen.append(f"{folder.name}:{len(names)}")
    try:
        weights = (ROOT / "submissions" / "team7.pt").read_bytes()
        seen.append(f"team7.pt:{len(weights)}")
    except OSError:
        seen.append("team7.pt:blocked")
    siblings = sorted(p.name for p in Path(__file__).resolve().parent.iterdir())
    raise RuntimeError("probe teams: " + " ".join(seen) + " siblings:" + ",".join(siblings))
