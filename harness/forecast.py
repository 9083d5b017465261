"""Shake-up forecast: each team's chance of each final rank before the private board is revealed.

It uses what is public only: the labels of the public images and each team's predictions
on them, for its final picks (its own selection, else its best public submissions, as the
private board chooses them). Each draw stands for an unseen private part: it bootstraps
the public images (a population they could come from), then draws as many images as the
private part holds from it (`metrics.unseen_sample_counts`); the same draw weights every
team (paired). One bootstrap stage alone would spread a private score around the public
one only half as much as a second sample does, and its intervals would be too narrow
(the README's calibration section has the measured coverage of both).
A pick's macro-F1 on the draw (all configured classes) gives its score by the
competition's formula (`harness.scoring`); a team's simulated private score is its best
pick's, and the teams are ranked as the private board ranks them (ties by time).

`backtest` measures the calibration on a board whose private part is known: it re-splits
the held-out images into public and private parts many times (per class, keeping the
part sizes), forecasts from each re-split's public part alone and compares with that
re-split's private board.

Usage:
    fc = forecast_board(read_entries(Path("leaderboard.csv")), {}, cfg, key)
    [(t.team, round(t.p_top3, 2)) for t in fc.teams][:2]
    # -> [('team4', 0.99), ('zoo-shufflenet', 0.97)]
"""
from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta, timezone

import numpy as np

from harness.board import final_entries, private_board, public_board, ranked
from harness.config import Competition
from harness.data import AnswerKey
from harness.errors import HarnessError, LeaderboardError
from harness.leaderboard import Entry, day_of, decode_predictions
from harness.metrics import unseen_sample_counts, weighted_macro_f1, weighted_metric
from harness.scoring import Reference, compute_score

TOP = 3
"""P(top 3) is the chance of a final rank of TOP or better."""
INTERVAL = 0.90
"""Coverage of the reported interval of each team's private score."""
DRAWS = 1000
SPLITS = 200
BINS = 10


@dataclass(frozen=True)
class TeamForecast:
    """One team's forecast: its final-rank distribution and its private-score interval."""

    team: str
    public_rank: int
    public_score: float
    picks: tuple[int, ...]
    rank_probabilities: tuple[float, ...]
    """P(final rank = k) for k = 1 .. number of teams."""
    p_first: float
    p_top3: float
    expected_rank: float
    score_low: float
    score_high: float

    def to_dict(self) -> dict:
        d = asdict(self)
        d["picks"], d["rank_probabilities"] = list(self.picks), list(self.rank_probabilities)
        return d


@dataclass(frozen=True)
class Forecast:
    """The simulated private board: one `TeamForecast` per team, by public rank."""

    teams: tuple[TeamForecast, ...]
    draws: int
    seed: int
    public_images: int
    private_images: int
    reference: Reference
    interval: float = INTERVAL

    def team(self, name: str) -> TeamForecast:
        """The forecast of team `name`; HarnessError naming the known teams when absent."""
        for t in self.teams:
            if t.team == name:
                return t
        raise HarnessError(f"no team {name!r} on the board (teams: {', '.join(t.team for t in self.teams)})")

    def to_dict(self, team: str | None = None) -> dict:
        rows = [self.team(team)] if team else self.teams
        return {"draws": self.draws, "seed": self.seed, "public_images": self.public_images,
                "private_images": self.private_images, "reference_macs": self.reference.macs,
                "reference_f1": self.reference.f1, "interval": self.interval, "top": TOP,
                "teams": [t.to_dict() for t in rows]}


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

    def to_dict(self) -> dict:
        return {**asdict(self), "bins": [asdict(b) for b in self.bins]}


@dataclass(frozen=True)
class Backtest:
    """Forecasts against outcomes over `splits` random public/private re-splits."""

    splits: int
    draws: int
    seed: int
    teams: int
    forecasts: int
    top3: Calibration
    first: Calibration
    interval_coverage: float
    """Share of teams whose realised private score fell inside the forecast interval."""
    interval: float = INTERVAL

    def to_dict(self) -> dict:
        return {"splits": self.splits, "draws": self.draws, "seed": self.seed, "teams": self.teams,
                "forecasts": self.forecasts, "top": TOP, "brier_top3": self.top3.brier, "brier_first": self.first.brier,
                "public_board_brier_top3": self.top3.public_board_brier,
                "public_board_brier_first": self.first.public_board_brier,
                "interval": self.interval, "interval_coverage": self.interval_coverage,
                "reliability_top3": self.top3.to_dict()["bins"], "reliability_first": self.first.to_dict()["bins"]}


def _predictions(e: Entry, key: AnswerKey, cache: dict[int, np.ndarray]) -> np.ndarray:
    if e.id not in cache:
        try:
            predictions = decode_predictions(e.predictions)
        except (ValueError, zlib.error):
            predictions = np.empty(0, dtype=np.int64)
        if len(predictions) != len(key.labels):
            raise LeaderboardError(
                f"row {e.id} ({e.team}) holds {len(predictions)} predictions but the data set has {len(key.labels)} "
                "held-out images: it was scored on another data set, so it cannot be forecast")
        cache[e.id] = predictions
    return cache[e.id]


def rank_draws(scores: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Ranks (1 = best) of draws x teams `scores`, lower first, ties by lower `tiebreak`.

    >>> rank_draws(np.array([[0.3, 0.1, 0.3]]), np.array([[2, 0, 1]]))
    array([[3, 1, 2]])
    """
    order = np.lexsort((tiebreak, scores), axis=1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(1, scores.shape[1] + 1), order.shape), axis=1)
    return ranks


def forecast_board(entries: list[Entry], picks: dict[str, list[int]], cfg: Competition, key: AnswerKey,
                   draws: int = DRAWS, seed: int = 0, ref: Reference | None = None,
                   cache: dict[int, np.ndarray] | None = None) -> Forecast:
    """Simulate the private board `draws` times from the public images; see the module doc.

    Only `key.labels[key.public]` and the size of the private part are read from the key.
    Scores use `ref` (default: the pinned public reference values). `cache` keeps decoded
    predictions by row id between calls.
    """
    ref = ref or cfg.reference
    cache = {} if cache is None else cache
    n_public, n_private = int(key.public.sum()), int(key.private.sum())
    if n_public == 0 or n_private == 0:
        raise HarnessError(f"the data set has {n_public} public and {n_private} private images: a forecast needs both parts")
    if draws < 1:
        raise HarnessError(f"draws must be at least 1, got {draws}")
    standings = public_board(entries, cfg, None)
    if not standings:
        raise LeaderboardError("no scored submissions on the board: nothing to forecast")
    rule = cfg.rule
    chosen = final_entries(entries, picks, cfg.final_picks, rule)
    teams = {s.team: i for i, s in enumerate(standings)}  # columns in public-rank order
    rows = sorted((e for t in teams for e in chosen[t]), key=lambda e: (e.time_utc, e.id))
    team_of = [teams[e.team] for e in rows]
    predictions = np.stack([_predictions(e, key, cache)[key.public] for e in rows])
    counts = unseen_sample_counts(n_public, n_private, draws, seed)
    if rule.scoring == "2021":
        f1 = weighted_macro_f1(key.labels[key.public], predictions, counts, cfg.num_classes)
        entry_scores = [compute_score(e.macs, f, ref).total for e, f in zip(rows, f1)]
    else:  # oriented so that lower is better below; turned back for the interval
        values = weighted_metric(rule.metric, key.labels[key.public], predictions, counts, cfg.num_classes)
        entry_scores = [rule.order(rule.score(e.macs, v, ref)) for e, v in zip(rows, values)]
    team_scores = np.full((draws, len(teams)), np.inf)
    tiebreak = np.zeros((draws, len(teams)), dtype=np.int64)
    for order, (t, s) in enumerate(zip(team_of, entry_scores)):  # rows by time: on a tie the earlier stays
        better = s < team_scores[:, t]
        team_scores[better, t] = s[better]
        tiebreak[better, t] = order
    ranks = rank_draws(team_scores, tiebreak)
    tail = (1 - INTERVAL) / 2
    low, high = np.quantile(team_scores, [tail, 1 - tail], axis=0)
    if rule.higher_is_better:
        low, high = -high, -low
    result = []
    for i, s in enumerate(standings):
        probabilities = np.bincount(ranks[:, i] - 1, minlength=len(teams)) / draws
        result.append(TeamForecast(
            team=s.team, public_rank=s.rank, public_score=s.score, picks=tuple(sorted(e.id for e in chosen[s.team])),
            rank_probabilities=tuple(float(p) for p in probabilities), p_first=float(np.mean(ranks[:, i] == 1)),
            p_top3=float(np.mean(ranks[:, i] <= TOP)), expected_rank=float(ranks[:, i].mean()),
            score_low=float(low[i]), score_high=float(high[i])))
    return Forecast(tuple(result), draws, seed, n_public, n_private, ref)


def forecast_by_day(entries: list[Entry], picks: dict[str, list[int]], cfg: Competition, key: AnswerKey, team: str,
                    draws: int = DRAWS, seed: int = 0) -> list[tuple[datetime, float]]:
    """P(top 3) of `team` forecast on the board as it stood at the end of each UTC day.

    One point per day with a scored submission, from the team's first such day on,
    stamped at the day's end (00:00 UTC of the next day).
    """
    scored = [e for e in entries if e.scored]
    cache: dict[int, np.ndarray] = {}
    points = []
    for day in sorted({day_of(e.time) for e in scored}):
        board = [e for e in scored if day_of(e.time) <= day]
        if not any(e.team == team for e in board):
            continue
        end = datetime.fromisoformat(day).replace(tzinfo=timezone.utc) + timedelta(days=1)
        points.append((end, forecast_board(board, picks, cfg, key, draws, seed, cache=cache).team(team).p_top3))
    return points


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


def calibration(event: str, p: np.ndarray, outcome: np.ndarray, public_board_p: np.ndarray) -> Calibration:
    """Brier score and reliability bins of forecasts `p` of an event against its 0/1 `outcome`.

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
    return Calibration(event, float(np.mean((p - outcome) ** 2)), float(np.mean((public_board_p - outcome) ** 2)), tuple(bins))


def backtest(entries: list[Entry], picks: dict[str, list[int]], cfg: Competition, key: AnswerKey,
             splits: int = SPLITS, draws: int = DRAWS, seed: int = 0) -> Backtest:
    """Forecast each of `splits` random re-splits from its public part; score against its private board.

    Every scored row is rescored on each re-split (public and private macro-F1 under the
    pinned public reference values), automatic picks follow the re-split's public
    scores, manual picks stay. Returns the Brier scores of P(top 3) and P(rank 1), their
    reliability tables, the same scores for the public board taken as final, and the
    coverage of the private-score interval.
    """
    if splits < 1:
        raise HarnessError(f"splits must be at least 1, got {splits}")
    scored = [e for e in entries if ranked(e, cfg.rule)]
    if not scored:
        raise LeaderboardError("no scored submissions on the board: nothing to backtest")
    cache: dict[int, np.ndarray] = {}
    predictions = np.stack([_predictions(e, key, cache) for e in scored])
    masks = resplit_masks(key, splits, seed)
    public_f1 = weighted_macro_f1(key.labels, predictions, masks, cfg.num_classes)
    private_f1 = weighted_macro_f1(key.labels, predictions, ~masks, cfg.num_classes)
    ref, rule = cfg.reference, cfg.rule
    if rule.scoring == "budget":
        public_value = weighted_metric(rule.metric, key.labels, predictions, masks, cfg.num_classes)
        private_value = weighted_metric(rule.metric, key.labels, predictions, ~masks, cfg.num_classes)
    p_top3, p_first, o_top3, o_first, pub_top3, pub_first, covered = [], [], [], [], [], [], []
    for r in range(splits):
        board = [replace(e, public_f1=float(public_f1[i, r]), private_f1=float(private_f1[i, r]),
                         public_score=compute_score(e.macs, float(public_f1[i, r]), ref).total,
                         private_score=compute_score(e.macs, float(private_f1[i, r]), ref).total)
                 if rule.scoring == "2021" else
                 replace(e, public_f1=float(public_f1[i, r]), private_f1=float(private_f1[i, r]),
                         public_score=float(public_value[i, r]), private_score=float(private_value[i, r]))
                 for i, e in enumerate(scored)]
        fc = forecast_board(board, picks, cfg, AnswerKey(key.labels, masks[r]), draws, seed + 1 + r, ref, cache)
        outcome = {s.team: s for s in private_board(board, picks, cfg, None)}
        for t in fc.teams:
            p_top3.append(t.p_top3)
            p_first.append(t.p_first)
            o_top3.append(outcome[t.team].rank <= TOP)
            o_first.append(outcome[t.team].rank == 1)
            pub_top3.append(t.public_rank <= TOP)
            pub_first.append(t.public_rank == 1)
            covered.append(t.score_low <= outcome[t.team].score <= t.score_high)
    arrays = [np.array(a, dtype=float) for a in (p_top3, p_first, o_top3, o_first, pub_top3, pub_first)]
    return Backtest(splits=splits, draws=draws, seed=seed, teams=len({e.team for e in scored}), forecasts=len(p_top3),
                    top3=calibration("top3", arrays[0], arrays[2], arrays[4]),
                    first=calibration("first", arrays[1], arrays[3], arrays[5]),
                    interval_coverage=float(np.mean(covered)))
