"""The competition's score formula, and nothing else knows it.

    score = MACs_sub / MACs_ref + F1 term              (lower is better)
    F1 term = 1 - F1_sub / F1_ref           if F1_sub < F1_ref
            = 0.5 * (1 - F1_sub / F1_ref)   otherwise (a bonus: negative)
            = 1.0                           whenever F1_sub < 0.5

`total`, `macs_term` and `f1_term` take floats or numpy arrays (bootstrap
resamples, plot grids); `compute_score` returns both terms of one score. The
board's intervals, the plot's contours, `check`'s projected MACs term and
`rescore` all call these.

Example:
    >>> s = compute_score(macs=1_386_355, f1=0.8342, ref=Reference(13_863_553, 0.8342))
    >>> round(s.macs_term, 3), s.f1_term, round(s.total, 3)
    (0.1, 0.0, 0.1)
    >>> total([1_386_355, 13_863_553], [0.8342, 0.8342], Reference(13_863_553, 0.8342)).round(3)
    array([0.1, 1. ])

The other format, `scoring = "budget"`, ranks by a metric (accuracy or macro-F1, higher
is better) among the submissions within every configured cap (stored bytes, parameters,
MACs). `Rule` holds the format; every view orders with `Rule.order`:

    >>> rule = Rule("budget", "accuracy", Caps(max_weights_bytes=30_000))
    >>> rule.higher_is_better, rule.score(2_211_465, 0.94, None), rule.order(0.94)
    (True, 0.94, -0.94)
    >>> [b.line() for b in rule.breaches({"weights_bytes": 30_001, "params": 10, "macs": 5})]
    ['stored bytes 30,001 exceed the cap max_weights_bytes = 30,000 (1 over)']
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Part = Literal["public", "private"]
Scoring = Literal["2021", "budget"]
Metric = Literal["accuracy", "macro_f1"]
"""The two parts of the held-out split: the public board's and the private board's."""

F1_FLOOR = 0.5
"""Below this macro-F1 the F1 term is the maximum penalty, 1.0."""


@dataclass(frozen=True)
class Reference:
    """The reference model's pinned MACs and macro-F1, the score's denominators."""

    macs: int
    f1: float


@dataclass(frozen=True)
class Score:
    """A score with its two terms. `total = macs_term + f1_term`."""

    macs_term: float
    f1_term: float

    @property
    def total(self) -> float:
        return self.macs_term + self.f1_term


def _scalar_or_array(value: np.ndarray):
    return float(value) if value.ndim == 0 else value


def macs_term(macs, ref: Reference):
    """The MACs term of the score; works on ints and on numpy arrays of MACs.

    >>> macs_term(1_000, Reference(4_000, 0.8))
    0.25
    """
    return _scalar_or_array(np.asarray(macs, dtype=float) / ref.macs)


def f1_term(f1, ref_f1: float):
    """The F1 term of the score; works on floats and on numpy arrays of F1 values.

    >>> f1_term(0.4, 0.8), round(f1_term(0.6, 0.8), 6), f1_term(1.0, 0.8)
    (1.0, 0.25, -0.125)
    """
    f1_arr = np.asarray(f1, dtype=float)
    ratio = f1_arr / ref_f1
    term = np.where(f1_arr < ref_f1, 1.0 - ratio, 0.5 * (1.0 - ratio))
    term = np.where(f1_arr < F1_FLOOR, 1.0, term)
    return _scalar_or_array(term)


def total(macs, f1, ref: Reference):
    """The score, `macs_term + f1_term`, of one submission or of arrays of them (broadcast)."""
    return macs_term(macs, ref) + f1_term(f1, ref.f1)


def compute_score(macs: int, f1: float, ref: Reference) -> Score:
    """Score a submission with `macs` MACs and macro-F1 `f1` against `ref`, term by term."""
    return Score(macs_term=macs_term(macs, ref), f1_term=f1_term(f1, ref.f1))


def config_id(profile: str, ref: Reference) -> str:
    """A short label of what scores depend on: the counting profile and the reference values.

    >>> config_id("2021", Reference(2_211_465, 0.939952))
    'profile=2021 ref_macs=2211465 ref_f1=0.9400'
    """
    return f"profile={profile} ref_macs={ref.macs} ref_f1={ref.f1:.4f}"


CAP_KEYS = {"max_weights_bytes": ("weights_bytes", "stored bytes"), "max_params": ("params", "parameters"),
            "max_macs": ("macs", "MACs")}
"""Each cap's configuration key -> (the measured quantity it limits, its name for people)."""


@dataclass(frozen=True)
class Caps:
    """The budget: any subset of a cap on stored bytes, on parameters and on MACs (None: no cap)."""

    max_weights_bytes: int | None = None
    max_params: int | None = None
    max_macs: int | None = None

    def items(self) -> list[tuple[str, int]]:
        """(key, limit) of every configured cap, in CAP_KEYS order."""
        return [(k, getattr(self, k)) for k in CAP_KEYS if getattr(self, k) is not None]


@dataclass(frozen=True)
class CapCheck:
    """One cap against one submission's measured value; headroom is negative when over."""

    key: str
    limit: int
    value: int

    @property
    def headroom(self) -> int:
        return self.limit - self.value

    @property
    def within(self) -> bool:
        return self.value <= self.limit

    def line(self) -> str:
        name = CAP_KEYS[self.key][1]
        if self.within:
            return f"{name} {self.value:,} within the cap {self.key} = {self.limit:,} ({self.headroom:,} to spare)"
        return f"{name} {self.value:,} exceed the cap {self.key} = {self.limit:,} ({-self.headroom:,} over)"

    def to_dict(self) -> dict:
        return {"cap": self.key, "measures": CAP_KEYS[self.key][0], "limit": self.limit, "value": self.value,
                "headroom": self.headroom, "within": self.within}


@dataclass(frozen=True)
class Rule:
    """The competition's format: how a submission's score is made and which way is better.

    `"2021"`: the formula above, lower is better, over macro-F1. `"budget"`: the score is
    the metric itself, higher is better, and a submission over any cap is not scored.
    """

    scoring: Scoring = "2021"
    metric: Metric = "macro_f1"
    caps: Caps = Caps()

    @property
    def higher_is_better(self) -> bool:
        """Metadata, as torchmetrics declares it: the budget format's score is a metric to maximise."""
        return self.scoring == "budget"

    @property
    def score_name(self) -> str:
        """What a board's score column holds: "score" (2021) or the metric's name."""
        return "score" if self.scoring == "2021" else self.metric

    @property
    def label(self) -> str:
        """The format as recorded in a leaderboard row: "2021" or "budget/<metric>"."""
        return "2021" if self.scoring == "2021" else f"budget/{self.metric}"

    def to_dict(self) -> dict:
        """The JSON fields that describe the format: empty for "2021" (its output stays as it was)."""
        if self.scoring == "2021":
            return {}
        return {"scoring": self.scoring, "metric": self.metric, "higher_is_better": self.higher_is_better,
                "caps": dict(self.caps.items())}

    def score(self, macs, metric_value, ref: Reference | None):
        """The score of `macs` and `metric_value` (floats or arrays): the 2021 total, or the metric."""
        if self.scoring == "2021":
            return total(macs, metric_value, ref)
        return _scalar_or_array(np.asarray(metric_value, dtype=float))

    def order(self, score):
        """A sort key, lowest first = best first, for scores of this format (floats or arrays)."""
        return -score if self.higher_is_better else score

    def checks(self, measured: dict[str, int]) -> list[CapCheck]:
        """Every configured cap against `measured` ({"weights_bytes", "params", "macs"} -> value; a missing one is skipped)."""
        return [CapCheck(k, limit, int(measured[CAP_KEYS[k][0]])) for k, limit in self.caps.items() if CAP_KEYS[k][0] in measured]

    def breaches(self, measured: dict[str, int]) -> list[CapCheck]:
        """The caps `measured` is over; empty when it fits the budget."""
        return [c for c in self.checks(measured) if not c.within]
