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
competition's formula (`harness.scoring`) under the private board's reference values; a
team's simulated private score is its best pick's, and exact ties share their ranks.

Each pick's public F1 is first shrunk toward its team's and the board's (empirical Bayes,
`harness.shrinkage`), so a lucky public leader and a team's best of many entries are not
taken at face value; `shrink=False` is the method before it. `harness.backtest` measures
the calibration on a board whose private part is known.

Usage:
    fc = forecast_board(read_entries(Path("leaderboard.csv")), {}, cfg, key)
    [(t.team, round(t.p_top3, 2)) for t in fc.teams][:2]
    # -> [('team4', 0.99), ('zoo-shufflenet', 0.97)]
"""
from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from datetime import datetime

import numpy as np

from harness.board import final_entries, public_board, ranked
from harness.config import Competition
from harness.data import AnswerKey
from harness.errors import HarnessError, LeaderboardError
from harness.leaderboard import Entry, day_of, decode_predictions
from harness.metrics import bootstrap_counts, unseen_sample_counts, weighted_macro_f1, weighted_metric
from harness.scoring import Reference, compute_score
from harness.shrinkage import shrinkage_shifts

TOP = 3
"""P(top 3) is the chance of a final rank of TOP or better."""
INTERVAL = 0.90
"""Coverage of the reported interval of each team's private score."""
DRAWS = 1000
NOISE_RESAMPLES = 200
"""Bootstrap resamples of the public images that estimate each entry's noise for the shrinkage."""


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
    warnings: tuple[str, ...] = ()
    """Classes absent from a part (`missing_classes`)."""
    shrunk: bool = True
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
                "shrunk": self.shrunk, "warnings": list(self.warnings), "teams": [t.to_dict() for t in rows]}


def row_predictions(e: Entry, key: AnswerKey, cache: dict[int, np.ndarray]) -> np.ndarray:
    """A row's stored predictions (cached by row id); LeaderboardError when they do not fit `key`'s images."""
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


def rank_probabilities(scores: np.ndarray) -> np.ndarray:
    """teams x ranks: P(final rank = k) over draws x teams `scores`; exact ties share their ranks.

    k teams level on a draw occupy the next k ranks and each gets 1/k of each of them,
    so two identical entries get the same probabilities, never 100% and 0% by time.

    >>> rank_probabilities(np.array([[0.1, 0.1, 0.3], [0.2, 0.1, 0.3]])).tolist()
    [[0.25, 0.75, 0.0], [0.75, 0.25, 0.0], [0.0, 0.0, 1.0]]
    """
    draws, teams = scores.shape
    better = (scores[:, None, :] < scores[:, :, None]).sum(axis=2)  # draws x teams: how many are strictly better
    level = (scores[:, None, :] == scores[:, :, None]).sum(axis=2)  # ... and how many share the score (self included)
    out = np.zeros((teams, teams))
    for offset in range(int(level.max())):
        sharing = level > offset
        team_index = np.broadcast_to(np.arange(teams), scores.shape)[sharing]
        np.add.at(out, (team_index, better[sharing] + offset), 1.0 / level[sharing])
    return out / draws


def _board_rows(entries: list[Entry], teams: dict[str, int], rule) -> list[Entry]:
    """Every ranked row of the board's teams, by time: the picks and the entries they were selected among."""
    return sorted((e for e in entries if ranked(e, rule) and e.team in teams), key=lambda e: (e.time_utc, e.id))


def _metric(metric: str, labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray, num_classes: int) -> np.ndarray:
    """Macro-F1 (the 2021 format's) or the budget format's metric, entries x weightings."""
    if metric == "macro_f1":
        return weighted_macro_f1(labels, predictions, weights, num_classes)
    return weighted_metric(metric, labels, predictions, weights, num_classes)


def missing_classes(key: AnswerKey, classes: tuple[str, ...]) -> list[str]:
    """One warning per class absent from the public or the private part.

    >>> missing_classes(AnswerKey(np.array([0, 0, 1]), np.array([True, False, False])), ("a", "b"))
    ['class b has no public images: its F1 on the private part cannot be simulated, so the forecast is overconfident']
    """
    out = []
    for part, mask in (("public", key.public), ("private", key.private)):
        present = set(np.unique(key.labels[mask]).tolist())
        out += [f"class {name} has no {part} images: " + (
            "its F1 on the private part cannot be simulated, so the forecast is overconfident" if part == "public"
            else "every entry's private F1 counts it as 0") for c, name in enumerate(classes) if c not in present]
    return out


def forecast_board(entries: list[Entry], picks: dict[str, list[int]], cfg: Competition, key: AnswerKey,
                   draws: int = DRAWS, seed: int = 0, ref: Reference | None = None,
                   cache: dict[int, np.ndarray] | None = None, shrink: bool = True) -> Forecast:
    """Simulate the private board `draws` times from the public images; see the module doc.

    Only `key.labels[key.public]` and the size of the private part are read from the key.
    Scores use `ref` (default: the private board's reference values, as it scores). With
    `shrink` (the default), each pick's simulated F1 is centred on its empirical-Bayes
    estimate (`harness.shrinkage`) instead of its public F1. `cache` keeps decoded
    predictions by row id between calls.
    """
    ref = ref or cfg.reference_for("private")
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
    picked = {e.id for t in teams for e in chosen[t]}
    rows = _board_rows(entries, teams, rule)
    labels = key.labels[key.public]
    predictions = np.stack([row_predictions(e, key, cache)[key.public] for e in rows])
    is_pick = np.array([e.id in picked for e in rows])
    counts = unseen_sample_counts(n_public, n_private, draws, seed)
    values = _metric(rule.metric if rule.scoring == "budget" else "macro_f1", labels, predictions[is_pick], counts, cfg.num_classes)
    if shrink:
        public_values = np.array([e.public_f1 if rule.scoring == "2021" else e.public_score for e in rows])
        noise = _metric(rule.metric if rule.scoring == "budget" else "macro_f1", labels, predictions,
                        bootstrap_counts(n_public, NOISE_RESAMPLES, seed), cfg.num_classes).T
        shifts = shrinkage_shifts(public_values, noise, np.array([teams[e.team] for e in rows]))
        values = np.clip(values + shifts[is_pick, None], 0.0, 1.0)
    picks_in_order = [e for e, p in zip(rows, is_pick) if p]
    team_scores = np.full((draws, len(teams)), np.inf)
    for e, v in zip(picks_in_order, values):  # oriented so that lower is better; turned back for the interval
        entry = compute_score(e.macs, v, ref).total if rule.scoring == "2021" else rule.order(rule.score(e.macs, v, ref))
        team_scores[:, teams[e.team]] = np.minimum(team_scores[:, teams[e.team]], entry)
    probabilities = rank_probabilities(team_scores)
    tail = (1 - INTERVAL) / 2
    low, high = np.quantile(team_scores, [tail, 1 - tail], axis=0)
    if rule.higher_is_better:
        low, high = -high, -low
    result = []
    for i, s in enumerate(standings):
        p = probabilities[i]
        result.append(TeamForecast(
            team=s.team, public_rank=s.rank, public_score=s.score, picks=tuple(sorted(e.id for e in chosen[s.team])),
            rank_probabilities=tuple(float(x) for x in p), p_first=float(p[0]), p_top3=float(p[:TOP].sum()),
            expected_rank=float(p @ np.arange(1, len(teams) + 1)), score_low=float(low[i]), score_high=float(high[i])))
    return Forecast(tuple(result), draws, seed, n_public, n_private, ref, warnings=tuple(missing_classes(key, cfg.classes)),
                    shrunk=shrink)


def forecast_by_day(entries: list[Entry], picks: dict[str, list[int]], cfg: Competition, key: AnswerKey, team: str,
                    draws: int = DRAWS, seed: int = 0) -> list[tuple[datetime, float]]:
    """P(top 3) of `team` forecast on the board as it stood at the end of each UTC day.

    One point per day with a scored submission, from the team's first such day on,
    stamped at that day's last scored submission (so a plot's time axis spans the
    submissions, not the empty hours up to midnight).
    """
    scored = [e for e in entries if e.scored]
    cache: dict[int, np.ndarray] = {}
    points = []
    for day in sorted({day_of(e.time) for e in scored}):
        board = [e for e in scored if day_of(e.time) <= day]
        if not any(e.team == team for e in board):
            continue
        last = max(e.time for e in board if day_of(e.time) == day)
        points.append((last, forecast_board(board, picks, cfg, key, draws, seed, cache=cache).team(team).p_top3))
    return points
