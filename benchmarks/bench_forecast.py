"""Benchmark: how long does the shake-up forecast take on a big board?

Builds a synthetic board in memory, by default 50 teams with two final picks each
(100 rows) and 10,000 held-out images (5,000 public, 5,000 private, 9 classes), and
times `harness.forecast.forecast_board` with 1,000 draws: each draw is 5,000 unseen
images drawn from the 5,000 public ones, so the simulation weighs 1,000 x 100 x 5,000
predictions. Also times the slow way for comparison on a slice (scikit-learn's f1_score
per pick and draw) and extrapolates it.

Run: `.venv/bin/python benchmarks/bench_forecast.py [--teams 50 --images 10000 --draws 1000]`.
Figures are measured in this run (best of --repeat); nothing here is asserted.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def synthetic_board(cfg, teams: int, images: int, seed: int = 0):
    from harness.config import PROFILES_VERSION
    from harness.data import AnswerKey
    from harness.leaderboard import Entry, encode_predictions
    from harness.scoring import compute_score

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, cfg.num_classes, images)
    key = AnswerKey(labels=labels, public=rng.permutation(np.arange(images) % 2 == 0))
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    rows = []
    for i in range(2 * teams):
        error = rng.uniform(0.03, 0.2)
        predictions = np.where(rng.random(images) < error, rng.integers(0, cfg.num_classes, images), labels)
        macs = int(rng.integers(100_000, 1_000_000))
        score = compute_score(macs, 0.9, cfg.reference).total  # ranks come from the predictions, not from here
        rows.append(Entry(
            id=i + 1, time_utc=(start + timedelta(minutes=i)).isoformat(), team=f"team{i // 2:02d}", status="scored",
            failure="", message="", submission="", file_sha256="", weights_sha256="", input_size="28x28", macs=macs,
            params=1, profile=cfg.profile, profile_macs="", profile_version=PROFILES_VERSION, public_f1=0.9, private_f1=0.9, public_score=score,
            private_score=score, ref_macs=cfg.reference.macs, ref_f1=cfg.reference.f1, harness_version="",
            ptflops_version="", predictions=encode_predictions(predictions), original_public_score=None,
            original_private_score=None, original_ref_macs=None, original_ref_f1=None, original_profile="",
            rescored_utc="", competition=""))
    return rows, key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teams", type=int, default=50)
    parser.add_argument("--images", type=int, default=10_000, help="held-out images, half of them public")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from sklearn.metrics import f1_score

    from harness.config import load_config
    from harness.forecast import forecast_board
    from harness.leaderboard import decode_predictions
    from harness.metrics import unseen_sample_counts

    cfg = replace(load_config(ROOT / "pyproject.toml"), final_picks=2)
    rows, key = synthetic_board(cfg, args.teams, args.images)
    times, raw_times = [], []
    for _ in range(args.repeat):  # interleaved: the machine's load moves both alike
        start = time.perf_counter()
        forecast = forecast_board(rows, {}, cfg, key, draws=args.draws, seed=0)
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        forecast_board(rows, {}, cfg, key, draws=args.draws, seed=0, shrink=False)
        raw_times.append(time.perf_counter() - start)
    best = min(times)
    n_public, n_private = int(key.public.sum()), int(key.private.sum())
    cells = args.draws * len(rows) * n_private

    slow_draws = 5
    labels = key.labels[key.public]
    counts = unseen_sample_counts(n_public, n_private, slow_draws, 0)
    predictions = [decode_predictions(e.predictions)[key.public] for e in rows]
    start = time.perf_counter()
    for d in range(slow_draws):
        images = np.repeat(np.arange(n_public), counts[d])
        for p in predictions:
            f1_score(labels[images], p[images], labels=range(cfg.num_classes), average="macro", zero_division=0)
    slow = (time.perf_counter() - start) / slow_draws * args.draws

    print(f"board: {args.teams} teams x 2 final picks, {n_public:,} public and {n_private:,} private images, "
          f"{cfg.num_classes} classes")
    print(f"forecast, {args.draws:,} draws          {best:6.2f} s  (best of {args.repeat}: "
          f"{', '.join(f'{t:.2f}' for t in times)}; {cells / best / 1e9:.2f} G predictions weighed per second)")
    print(f"the same without shrinkage (--raw)  {min(raw_times):6.2f} s  (best of {args.repeat}: "
          f"{', '.join(f'{t:.2f}' for t in raw_times)})")
    print(f"the slow way (scikit-learn per pick and draw, from {slow_draws} draws)  {slow:8.1f} s  -> {slow / best:.0f}x slower")
    assert abs(sum(t.p_first for t in forecast.teams) - 1) < 1e-9  # the draws ranked every team


if __name__ == "__main__":
    main()
