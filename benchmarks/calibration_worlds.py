"""Calibration of the forecast over independent held-out sets, where `forecast --backtest`
can only re-split (or resample) one.

Each world draws a fresh held-out set (554 images of 9 long-tailed classes, split half
public, half private per class, as the default competition) and its teams, at equal MACs:

- `close`: five nearly level teams, right with probabilities 0.90, 0.895, 0.89, 0.88, 0.87;
- `many`: five equally good teams (right 0.89 of the time); `many` submits 20 entries
  that differ by noise only, the others one each: its best public entry is selected
  among 20.

The forecast sees the public part only; the outcome is the world's private board. For
each scenario and method (`raw`: public F1 at face value, the method before shrinkage;
`shrunk`: empirical-Bayes shrinkage, the default) it prints the Brier scores of P(rank 1)
and P(top 3), the RPS of the whole rank distribution, each with a standard error
clustered by world, those of the public board taken as final, a reliability table of
P(rank 1) and, for `many`, the many-entry team's mean P(rank 1) against how often it won.

Run: `.venv/bin/python benchmarks/calibration_worlds.py [--worlds 400 --draws 500 --scenario close]`.
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

SCENARIOS = {
    "close": [(f"team{i}", a) for i, a in enumerate((0.90, 0.895, 0.89, 0.88, 0.87))],
    "many": [("many", 0.89)] * 20 + [(f"one{i}", 0.89) for i in range(4)],
}
IMAGES, MACS = 554, 300_000


def world(cfg, seed: int, teams: list[tuple[str, float]], images: int = IMAGES):
    """One held-out set and one row per (team, accuracy), scored as `evaluate` scores."""
    from harness.config import PROFILES_VERSION
    from harness.data import AnswerKey
    from harness.leaderboard import Entry, encode_predictions
    from harness.metrics import weighted_macro_f1
    from harness.scoring import compute_score

    rng = np.random.default_rng(seed)
    classes = cfg.num_classes
    weights = np.linspace(1, 0.1, classes)
    labels = rng.choice(classes, images, p=weights / weights.sum())
    public = np.zeros(images, dtype=bool)
    for c in range(classes):
        members = rng.permutation(np.flatnonzero(labels == c))
        public[members[: (len(members) + 1) // 2]] = True
    rows = []
    for i, (team, accuracy) in enumerate(teams):
        predictions = np.where(rng.random(images) < accuracy, labels, (labels + rng.integers(1, classes, images)) % classes)
        public_f1, private_f1 = weighted_macro_f1(labels, predictions, np.stack([public, ~public]), classes)
        rows.append(Entry(
            id=i + 1, time_utc=(datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(minutes=i)).isoformat(),
            team=team, status="scored", failure="", message="", submission="", file_sha256="", weights_sha256="",
            input_size="", macs=MACS, params=1, profile=cfg.profile, profile_macs="", profile_version=PROFILES_VERSION,
            public_f1=public_f1, private_f1=private_f1, public_score=compute_score(MACS, public_f1, cfg.reference).total,
            private_score=compute_score(MACS, private_f1, cfg.reference_for("private")).total, ref_macs=cfg.reference.macs,
            ref_f1=cfg.reference.f1, harness_version="", ptflops_version="", predictions=encode_predictions(predictions),
            original_public_score=None, original_private_score=None, original_ref_macs=None, original_ref_f1=None,
            original_profile="", rescored_utc="", competition=""))
    return rows, AnswerKey(labels, public)


def measure(cfg, scenario: str, worlds: int, draws: int, shrink: bool, images: int = IMAGES) -> dict:
    """Forecasts against outcomes over `worlds` independent worlds of `scenario`."""
    from harness.backtest import calibration, clustered_se, ranked_probability_score
    from harness.board import private_board
    from harness.forecast import TOP, forecast_board

    seen = {k: [] for k in ("p1", "o1", "pub1", "p3", "o3", "pub3", "rps", "pub_rps", "world", "many_p1", "many_won")}
    for w in range(worlds):
        rows, key = world(cfg, w, SCENARIOS[scenario], images)
        forecast = forecast_board(rows, {}, cfg, key, draws=draws, seed=w, shrink=shrink)
        outcome = {s.team: s.rank for s in private_board(rows, {}, cfg, None)}
        n = len(forecast.teams)
        for t in forecast.teams:
            rank = outcome[t.team]
            for k, v in (("p1", t.p_first), ("o1", rank == 1), ("pub1", t.public_rank == 1), ("p3", t.p_top3),
                         ("o3", rank <= TOP), ("pub3", t.public_rank <= TOP), ("world", w),
                         ("rps", ranked_probability_score(np.array(t.rank_probabilities), rank)),
                         ("pub_rps", ranked_probability_score(np.eye(n)[t.public_rank - 1], rank))):
                seen[k].append(v)
            if t.team == "many":
                seen["many_p1"].append(t.p_first)
                seen["many_won"].append(rank == 1)
    a = {k: np.array(v, dtype=float) for k, v in seen.items()}
    clusters = a["world"].astype(int)
    return {"first": calibration("first", a["p1"], a["o1"], a["pub1"], clusters),
            "top3": calibration("top3", a["p3"], a["o3"], a["pub3"], clusters),
            "rps": (a["rps"].mean(), clustered_se(a["rps"], clusters)),
            "public_rps": (a["pub_rps"].mean(), clustered_se(a["pub_rps"], clusters)),
            "many": (a["many_p1"].mean(), a["many_won"].mean()) if len(a["many_p1"]) else None}


def report(scenario: str, method: str, m: dict) -> None:
    first, top3 = m["first"], m["top3"]
    print(f"[{scenario}, {method}] Brier P(rank 1) {first.brier:.3f} ± {first.brier_se:.3f} "
          f"(public board as final {first.public_board_brier:.3f}); Brier P(top 3) {top3.brier:.3f} ± {top3.brier_se:.3f} "
          f"(public {top3.public_board_brier:.3f}); RPS {m['rps'][0]:.3f} ± {m['rps'][1]:.3f} (public {m['public_rps'][0]:.3f})")
    for b in first.bins:
        if b.count:
            print(f"  P(rank 1) {b.low:.1f}-{b.high:.1f}  {b.count:5d} forecasts  mean {b.mean_forecast:.3f}  observed {b.observed:.3f}")
    if m["many"] is not None:
        print(f"  the 20-entry team: mean P(rank 1) {m['many'][0]:.3f}, won {m['many'][1]:.3f} of the worlds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", type=int, default=400)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--images", type=int, default=IMAGES)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    args = parser.parse_args()

    from harness.config import load_config

    cfg = replace(load_config(ROOT / "pyproject.toml"), final_picks=2)
    print(f"{args.worlds} independent held-out sets of {args.images} images per scenario, {args.draws} draws per forecast")
    for scenario in SCENARIOS if args.scenario == "all" else [args.scenario]:
        for method, shrink in (("raw", False), ("shrunk", True)):
            report(scenario, method, measure(cfg, scenario, args.worlds, args.draws, shrink, args.images))


if __name__ == "__main__":
    main()
