"""How well calibrated is the forecast? Measured on a board whose private part is known.

Each split makes a new public/private pair from the host's held-out images, rescores every
row on it, forecasts from its public part alone and compares with its private board:

- `"resplit"`: the held-out images re-divided at random (per class, keeping each class's
  public count): calibration given this held-out set;
- `"resample"`: a new held-out set drawn with replacement from this one (a bootstrap of
  the images), then divided per class in the same shares: calibration over held-out sets
  the competition could have had.

Per event (P(top 3), P(rank 1)) it reports the Brier score and a reliability table; for the
whole rank distribution, the ranked probability score (RPS); each beside the public board
taken as final, each with a standard error clustered by split (the teams of one split
share its images, so they are not independent).

Usage:
    bt = backtest(read_entries(Path("leaderboard.csv")), {}, cfg, key, splits=50)
    round(bt.rps, 3), round(bt.public_board_rps, 3)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Literal

import numpy as np

from harness.board import private_board, ranked
from harness.config import Competition
from harness.data import AnswerKey
from harness.errors import HarnessError, LeaderboardError
from harness.forecast import DRAWS, INTERVAL, TOP, forecast_board, row_predictions
from harness.leaderboard import Entry
from harness.metrics import weighted_macro_f1, weighted_metric
from harness.scoring import compute_score

SPLITS = 200
BINS = 10
Method = Literal["resplit", "resample"]


@dataclass(frozen=True)
class ReliabilityBin:
    """Forecasts in [low, high): how many, their mean, and how often the event happened."""

    low: float
    high: float
    count: int
    mean_forecast: float | None
    observed: float | None


@dataclass(frozen=True)
class Calibration:
    """Brier score and reliability of one event's forecast ("top3" or "first")."""

    event: str
    brier: float
    public_board_brier: float
    """Brier score of taking the public board as final (probability 1 or 0)."""
    bins: tuple[ReliabilityBin, ...]
    brier_se: float = 0.0
    public_board_brier_se: float = 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "bins": [asdict(b) for b in self.bins]}


@dataclass(frozen=True)
class Backtest:
    """Forecasts against outcomes over `splits` splits (see the module doc)."""

    splits: int
    draws: int
    seed: int
    teams: int
    forecasts: int
    top3: Calibration
    first: Calibration
    interval_coverage: float
    """Share of teams whose realised private score fell inside the forecast interval."""
    rps: float = 0.0
    public_board_rps: float = 0.0
    rps_se: float = 0.0
    public_board_rps_se: float = 0.0
    method: Method = "resplit"
    shrunk: bool = True
    interval: float = INTERVAL

    def to_dict(self) -> dict:
        return {"splits": self.splits, "draws": self.draws, "seed": self.seed, "teams": self.teams, "method": self.method,
                "shrunk": self.shrunk, "forecasts": self.forecasts, "top": TOP, "brier_top3": self.top3.brier,
                "brier_first": self.first.brier, "public_board_brier_top3": self.top3.public_board_brier,
                "public_board_brier_first": self.first.public_board_brier, "rps": self.rps,
                "public_board_rps": self.public_board_rps,
                "standard_errors": {"brier_top3": self.top3.brier_se, "brier_first": self.first.brier_se, "rps": self.rps_se,
                                    "public_board_brier_top3": self.top3.public_board_brier_se,
                                    "public_board_brier_first": self.first.public_board_brier_se,
                                    "public_board_rps": self.public_board_rps_se},
                "interval": self.interval, "interval_coverage": self.interval_coverage,
                "reliability_top3": self.top3.to_dict()["bins"], "reliability_first": self.first.to_dict()["bins"]}


def resplit_masks(key: AnswerKey, splits: int, seed: int) -> np.ndarray:
    """`splits` x images boolean public masks: per class, as many public images as `key` has.

    Usage: `resplit_masks(key, 5, seed=0).sum(axis=1)` is `key.public.sum()` in every row.
    """
    rng = np.random.default_rng(seed)
    masks = np.zeros((splits, len(key.labels)), dtype=bool)
    keys = rng.random(masks.shape)
    for c in np.unique(key.labels):
        members = np.flatnonzero(key.labels == c)
        chosen = np.argsort(keys[:, members], axis=1)[:, :int(key.public[members].sum())]
        rows = np.repeat(np.arange(splits), chosen.shape[1])
        masks[rows, members[chosen].ravel()] = True
    return masks


def resampled_split(key: AnswerKey, rng: np.random.Generator) -> tuple[np.ndarray, AnswerKey]:
    """A held-out set drawn with replacement from `key`'s images, divided per class in `key`'s public shares.

    Returns the drawn image indices and the drawn set's key.

    >>> idx, drawn = resampled_split(AnswerKey(np.array([0, 0, 1, 1]), np.array([True, False, True, False])), np.random.default_rng(0))
    >>> len(idx), int(drawn.public.sum()) <= 4
    (4, True)
    """
    idx = rng.integers(0, len(key.labels), len(key.labels))
    labels = key.labels[idx]
    public = np.zeros(len(idx), dtype=bool)
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        share = key.public[key.labels == c].mean()
        public[members[:int(round(share * len(members)))]] = True
    return idx, AnswerKey(labels, public)


def calibration(event: str, p: np.ndarray, outcome: np.ndarray, public_board_p: np.ndarray, split_of: np.ndarray | None = None) -> Calibration:
    """Brier score and reliability bins of forecasts `p` of an event against its 0/1 `outcome`.

    With `split_of` (the split of each forecast), standard errors clustered by split.

    >>> round(calibration("top3", np.array([0.9, 0.1]), np.array([1.0, 0.0]), np.array([1.0, 1.0])).brier, 4)
    0.01
    """
    edges = np.linspace(0, 1, BINS + 1)
    which = np.minimum((p * BINS).astype(int), BINS - 1)
    bins = []
    for b in range(BINS):
        inside = which == b
        n = int(inside.sum())
        bins.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), n, float(p[inside].mean()) if n else None,
                                   float(outcome[inside].mean()) if n else None))
    losses, public_losses = (p - outcome) ** 2, (public_board_p - outcome) ** 2
    split_of = np.zeros(len(p), dtype=int) if split_of is None else split_of
    return Calibration(event, float(losses.mean()), float(public_losses.mean()), tuple(bins),
                       clustered_se(losses, split_of), clustered_se(public_losses, split_of))


def ranked_probability_score(probabilities: np.ndarray, rank: int) -> float:
    """RPS of one forecast rank distribution against the realised `rank` (1-based); 0 is perfect.

    The mean squared gap between the forecast and the realised cumulative distributions.

    >>> ranked_probability_score(np.array([1.0, 0.0, 0.0]), 1), ranked_probability_score(np.array([0.0, 0.0, 1.0]), 1)
    (0.0, 1.0)
    """
    n = len(probabilities)
    if n < 2:
        return 0.0
    forecast = np.cumsum(probabilities)[:-1]
    realised = (np.arange(1, n) >= rank).astype(float)
    return float(((forecast - realised) ** 2).mean())


def clustered_se(values: np.ndarray, clusters: np.ndarray) -> float:
    """Standard error of the mean of `values`, clustered (a cluster's values may correlate).

    >>> round(clustered_se(np.array([0.0, 0.0, 1.0, 1.0]), np.array([0, 0, 1, 1])), 3)
    0.5
    """
    ids, inverse = np.unique(clusters, return_inverse=True)
    if len(ids) < 2:
        return 0.0
    totals = np.bincount(inverse, weights=values - values.mean())
    return float(np.sqrt(len(ids) / (len(ids) - 1) * (totals ** 2).sum()) / len(values))


def _split_boards(scored: list[Entry], cfg: Competition, key: AnswerKey, splits: int, seed: int, method: Method):
    """Per split: its rows rescored, its key, and its predictions by row id."""
    predictions = np.stack([row_predictions(e, key, {}) for e in scored])
    rng = np.random.default_rng(seed)
    masks = resplit_masks(key, splits, seed) if method == "resplit" else None
    public_ref, private_ref = cfg.reference_for("public"), cfg.reference_for("private")
    for r in range(splits):
        if masks is not None:
            idx, split = np.arange(len(key.labels)), AnswerKey(key.labels, masks[r])
        else:
            idx, split = resampled_split(key, rng)
        drawn = predictions[:, idx]
        parts = np.stack([split.public, split.private])
        f1 = weighted_macro_f1(split.labels, drawn, parts, cfg.num_classes)
        if cfg.rule.scoring == "2021":
            scores = [(compute_score(e.macs, float(f1[i, 0]), public_ref).total, compute_score(e.macs, float(f1[i, 1]), private_ref).total)
                      for i, e in enumerate(scored)]
        else:
            scores = weighted_metric(cfg.rule.metric, split.labels, drawn, parts, cfg.num_classes).tolist()
        board = [replace(e, public_f1=float(f1[i, 0]), private_f1=float(f1[i, 1]), public_score=float(scores[i][0]),
                         private_score=float(scores[i][1])) for i, e in enumerate(scored)]
        yield board, split, {e.id: drawn[i] for i, e in enumerate(scored)}


def backtest(entries: list[Entry], picks: dict[str, list[int]], cfg: Competition, key: AnswerKey,
             splits: int = SPLITS, draws: int = DRAWS, seed: int = 0, method: Method = "resplit",
             shrink: bool = True) -> Backtest:
    """Forecast each of `splits` splits from its public part; score against its private board.

    Every scored row is rescored on each split (public and private macro-F1, each under
    its board's reference values), automatic picks follow the split's public scores,
    manual picks stay. See the module doc for `method`; `shrink` as in `forecast_board`.
    """
    if splits < 1:
        raise HarnessError(f"splits must be at least 1, got {splits}")
    scored = [e for e in entries if ranked(e, cfg.rule)]
    if not scored:
        raise LeaderboardError("no scored submissions on the board: nothing to backtest")
    columns = {name: [] for name in ("p_top3", "p_first", "o_top3", "o_first", "pub_top3", "pub_first", "covered", "rps",
                                     "pub_rps", "split")}
    for r, (board, split, cache) in enumerate(_split_boards(scored, cfg, key, splits, seed, method)):
        fc = forecast_board(board, picks, cfg, split, draws, seed + 1 + r, cache=cache, shrink=shrink)
        outcome = {s.team: s for s in private_board(board, picks, cfg, None)}
        for t in fc.teams:
            rank, n = outcome[t.team].rank, len(fc.teams)
            for name, value in (("p_top3", t.p_top3), ("p_first", t.p_first), ("o_top3", rank <= TOP), ("o_first", rank == 1),
                                ("pub_top3", t.public_rank <= TOP), ("pub_first", t.public_rank == 1),
                                ("covered", t.score_low <= outcome[t.team].score <= t.score_high),
                                ("rps", ranked_probability_score(np.array(t.rank_probabilities), rank)),
                                ("pub_rps", ranked_probability_score(np.eye(n)[t.public_rank - 1], rank)), ("split", r)):
                columns[name].append(value)
    a = {name: np.array(values, dtype=float) for name, values in columns.items()}
    split_of = a["split"].astype(int)
    return Backtest(splits=splits, draws=draws, seed=seed, teams=len({e.team for e in scored}), forecasts=len(a["rps"]),
                    top3=calibration("top3", a["p_top3"], a["o_top3"], a["pub_top3"], split_of),
                    first=calibration("first", a["p_first"], a["o_first"], a["pub_first"], split_of),
                    interval_coverage=float(a["covered"].mean()), rps=float(a["rps"].mean()),
                    public_board_rps=float(a["pub_rps"].mean()), rps_se=clustered_se(a["rps"], split_of),
                    public_board_rps_se=clustered_se(a["pub_rps"], split_of), method=method, shrunk=shrink)
