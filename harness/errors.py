"""The one domain exception of the harness and its few kinds.

Every failure a user can cause (a bad path, a broken submission, a damaged data
set, a malformed leaderboard) is raised as a `HarnessError`; the CLI turns it into
one red line and a non-zero exit code, in one place (`harness.cli`).

Example:
    >>> try:
    ...     raise SubmissionError("team4.py: no build_model() defined")
    ... except HarnessError as e:
    ...     print(e.exit_code, e)
    2 team4.py: no build_model() defined
"""
from __future__ import annotations

from typing import Literal, get_args


class HarnessError(Exception):
    """Base class: a message for the user and the exit code that goes with it."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ConfigError(HarnessError):
    """The competition configuration is missing, malformed or inconsistent."""

    exit_code = 3


class DataError(HarnessError):
    """The data set is missing, incomplete, damaged or changed."""

    exit_code = 4


class SubmissionError(HarnessError):
    """A submission cannot be loaded or does not honour the contract."""

    exit_code = 2


class CountingError(SubmissionError):
    """ptflops could not count the model."""


class UnsupportedGraph(SubmissionError):
    """The model uses a counted layer the clean rebuild does not know, or cannot be exported."""


class RejectedError(SubmissionError):
    """The verifier found compute that ptflops does not count."""


class OverBudgetError(SubmissionError):
    """Under scoring = "budget", the submission is over a cap (stored bytes, parameters or MACs)."""


class WorkerError(SubmissionError):
    """The isolated worker failed: `failure` is one of FAILURE_CLASSES."""

    def __init__(self, failure: Failure, message: str, stage: str = ""):
        super().__init__(message)
        self.failure = failure
        self.stage = stage


class LeaderboardError(HarnessError):
    """The leaderboard file is unreadable, malformed or of an unknown schema."""

    exit_code = 5


class QuotaError(HarnessError):
    """The team has used up today's submissions."""

    exit_code = 6


class RulesError(HarnessError):
    """The competition's rules refuse it: closed, not yet open, an unregistered team, a private board before the end."""

    exit_code = 7


Failure = Literal["timeout", "out_of_memory", "crashed", "invalid_output", "rejected", "over_budget"]
FAILURE_CLASSES: tuple[Failure, ...] = get_args(Failure)
