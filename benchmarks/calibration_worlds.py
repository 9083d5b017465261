"""Calibration of the forecast over independent held-out sets, where `forecast --backtest`
can only re-split one.

Each world draws a fresh held-out set (554 images of 9 long-tailed classes, split half
public, half private per class, as the default competition) and five teams whose
predictions are right with probabilities 0.90, 0.895, 0.89, 0.88 and 0.87 at equal MACs:
nearly level teams, the hard case. The forecast sees the public part only; the outcome is
the world's private board. Prints the Brier scores and reliability of P(rank 1) and
P(top 3), and those of the public board taken as final.

Run: `.venv/bin/python benchmarks/calibration_worlds.py [--worlds 400 --draws 500]`.
Figures are measured in this run; nothing here is asserted.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACCURACIES = (0.90, 0.895, 0.89, 0.88, 0.87)
IMAGES, MACS = 554, 300_000


def world(cfg, seed: int):
    """One held-out set and one row per team, scored as `evaluate` scores."""
    from harness.data import AnswerKey
    from harness.leaderboard import Entry, encode_predictions
    from harness.metrics import weighted_macro_f1
    from harness.scoring import compute_score

    rng = np.random.default_rng(seed)
    classes = cfg.num_classes
    weights = np.linspace(1, 0.1, classes)
    labels = rng.choice(classes, IMAGES, p=weights / weights.sum())
    public = np.zeros(IMAGES, dtype=bool)
    for c in range(classes):
        members = rng.permutation(np.flatnonzero(labels == c))
        public[members[: (len(members) + 1) // 2]] = True
    rows = []
    for i, accuracy in enumerate(ACCURACIES):
        predictions = np.where(rng.random(IMAGES) < accuracy, labels, (labels + rng.integers(1, classes, IMAGES)) % classes)
        public_f1, private_f1 = weighted_macro_f1(labels, predictions, np.stack([public, ~public]), classes)
        rows.append(Entry(
            id=i + 1, time_utc=(datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(minutes=i)).isoformat(),
            team=f"team{i}", status="scored", failure="", message="", submission="", file_sha256="", weights_sha256="",
            input_size="", macs=MACS, params=1, profile=cfg.profile, profile_macs="", public_f1=public_f1,
            private_f1=private_f1, public_score=compute_score(MACS, public_f1, cfg.reference).total,
            private_score=compute_score(MACS, private_f1, cfg.reference).total, ref_macs=cfg.reference.macs,
            ref_f1=cfg.reference.f1, harness_version="", ptflops_version="", predictions=encode_predictions(predictions),
            original_public_score=None, original_private_score=None, original_ref_macs=None, original_ref_f1=None,
            original_profile="", rescored_utc=""))
    return rows, AnswerKey(labels, public)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", type=int, default=400)
    parser.add_argument("--draws", type=int, default=500)
    args = parser.parse_args()

    from harness.board import private_board
    from harness.config import load_config
    from harness.forecast import TOP, calibration, forecast_board

    cfg = replace(load_config(ROOT / "pyproject.toml"), final_picks=2)
    seen = {name: ([], [], []) for name in ("rank 1", "top 3")}
    for w in range(args.worlds):
        rows, key = world(cfg, w)
        forecast = forecast_board(rows, {}, cfg, key, draws=args.draws, seed=w)
        outcome = {s.team: s.rank for s in private_board(rows, {}, cfg, None)}
        for t in forecast.teams:
            for name, p, limit in (("rank 1", t.p_first, 1), ("top 3", t.p_top3, TOP)):
                seen[name][0].append(p)
                seen[name][1].append(outcome[t.team] <= limit)
                seen[name][2].append(t.public_rank <= limit)
    print(f"{args.worlds} independent held-out sets of {IMAGES} images, {len(ACCURACIES)} nearly level teams, "
          f"{args.draws} draws per forecast")
    for name, (p, o, public) in seen.items():
        cal = calibration(name, *(np.array(a, dtype=float) for a in (p, o, public)))
        print(f"P({name}): Brier {cal.brier:.4f} (public board as final: {cal.public_board_brier:.4f})")
        for b in cal.bins:
            if b.count:
                print(f"  {b.low:.1f}-{b.high:.1f}  {b.count:5d} forecasts  mean {b.mean_forecast:.3f}  observed {b.observed:.3f}")


if __name__ == "__main__":
    main()
