"""The paths of `harness evaluate`, `harness check` and `harness reference`.

evaluate: find the data (build the default on first use), run the submission in
the isolated worker (count, verify, predict), score the logits against the
answer key here in the parent, append one row.

Usage:
    cfg = load_config(Path("pyproject.toml"))
    result = evaluate_submission(Path("submissions/team4.py"), cfg, Path("/tmp/lb.csv"))
    result.entry.public_score == result.scores.public.total
    # -> True
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np

from harness import data as data_mod

from harness.config import PROFILES_VERSION, Competition
from harness.data import open_split
from harness.errors import DataError, HarnessError, OverBudgetError, RejectedError, WorkerError
from harness.kit import identity_of, identity_problem, version_differences
from harness.lineage import ancestors
from harness.leaderboard import (
    STATUS_FAILED, STATUS_SCORED, Entry, Split, append_entry, check_competition, check_quota, check_split, encode_predictions,
    read_entries, remaining_today,
)
from harness.metrics import macro_f1, metric_value
from harness.names import validate_team
from harness.report import ModelReport
from harness.sandbox import SandboxMode, resolve_mode
from harness.scoring import CapCheck, Reference, Score, compute_score
from harness.isolation import run_isolated, submission_bytes, submission_files
from harness.staging import StagedSubmission, staged
from harness.submission import file_hashes

ProgressFn = Callable[[int, int], None]


def ptflops_version() -> str:
    try:
        return metadata.version("ptflops")
    except metadata.PackageNotFoundError:
        return "unknown"


def harness_version() -> str:
    try:
        return metadata.version("harness")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class PartScores:
    """F1 and score on the public and private parts of the held-out split (on the validation split: public only).

    `public` and `private` are the 2021 formula's terms; `public_score` and
    `private_score` are what the board ranks under the configured format.
    """

    public_f1: float
    private_f1: float | None
    public: Score
    private: Score | None
    public_score: float
    private_score: float | None


@dataclass(frozen=True)
class EvaluationResult:
    """One scored submission: the appended row and everything measured."""

    entry: Entry
    report: ModelReport
    scores: PartScores
    remaining_today: int | None
    """None on a validation board: no quota applies."""
    sandbox: SandboxMode
    leaderboard: Path = Path("leaderboard.csv")
    """The board the row was appended to (absolute)."""


def part_f1s(logits: np.ndarray, key: data_mod.AnswerKey, num_classes: int) -> tuple[float, float]:
    """Macro-F1 of the predictions on the public and on the private part."""
    predictions = logits.argmax(axis=1)
    return (macro_f1(key.labels[key.public], predictions[key.public], num_classes),
            macro_f1(key.labels[key.private], predictions[key.private], num_classes))


def part_metrics(metric: str, logits: np.ndarray, key: data_mod.AnswerKey, num_classes: int) -> tuple[float, float]:
    """The named metric ("accuracy" or "macro_f1") on the public and on the private part."""
    predictions = logits.argmax(axis=1)
    return tuple(metric_value(metric, key.labels[m], predictions[m], num_classes) for m in (key.public, key.private))


def score_parts(logits: np.ndarray, key: data_mod.AnswerKey, macs: int, cfg: Competition) -> PartScores:
    """Macro-F1 and score on each part, each against `cfg.reference_for(part)`, under the configured format."""
    public_f1, private_f1 = part_f1s(logits, key, cfg.num_classes)
    public = compute_score(macs, public_f1, cfg.reference_for("public"))
    private = compute_score(macs, private_f1, cfg.reference_for("private"))
    if cfg.rule.scoring == "2021":
        return PartScores(public_f1, private_f1, public, private, public.total, private.total)
    public_metric, private_metric = part_metrics(cfg.rule.metric, logits, key, cfg.num_classes)
    return PartScores(public_f1, private_f1, public, private, cfg.rule.score(macs, public_metric, None),
                      cfg.rule.score(macs, private_metric, None))


def cap_checks(report: ModelReport, stored_bytes: int, cfg: Competition) -> list[CapCheck]:
    """Every configured cap against the submission's stored bytes, parameters and MACs."""
    return cfg.rule.checks({"weights_bytes": stored_bytes, "params": report.params, "macs": report.macs})


def score_split(logits: np.ndarray, key: data_mod.AnswerKey, macs: int, cfg: Competition, split: Split) -> PartScores:
    """`score_parts` on the held-out split; on the validation split, every image is in the public part."""
    if split == "test":
        return score_parts(logits, key, macs, cfg)
    predictions = logits.argmax(axis=1)
    f1 = macro_f1(key.labels, predictions, cfg.num_classes)
    public = compute_score(macs, f1, cfg.reference_for("public"))
    if cfg.rule.scoring == "2021":
        return PartScores(f1, None, public, None, public.total, None)
    metric = metric_value(cfg.rule.metric, key.labels, predictions, cfg.num_classes)
    return PartScores(f1, None, public, None, cfg.rule.score(macs, metric, None), None)


def new_entry(submission: StagedSubmission | Path, team: str, cfg: Competition, now: datetime, competition: str = "",
              split: Split = "test") -> Entry:
    """A failed attempt of `team` with the submission's hashes and the configuration's values: the row every evaluation starts from."""
    if isinstance(submission, StagedSubmission):
        path, file_sha, weights_sha = submission.original, submission.file_sha256, submission.weights_sha256
        stored = submission_bytes(list(submission.files))
    else:
        path, (file_sha, weights_sha) = submission, file_hashes(submission)
        stored = submission_bytes(submission_files(submission))
    return Entry(
        id=0, time_utc=now.isoformat(timespec="seconds"), team=team, status=STATUS_FAILED, failure="", message="",
        submission=str(path), file_sha256=file_sha, weights_sha256=weights_sha, input_size="", macs=None, params=None,
        profile=cfg.profile, profile_macs="", profile_version=PROFILES_VERSION, public_f1=None, private_f1=None,
        public_score=None, private_score=None,
        ref_macs=cfg.reference.macs, ref_f1=cfg.reference.f1, harness_version=harness_version(),
        ptflops_version=ptflops_version(), predictions="", original_public_score=None, original_private_score=None,
        original_ref_macs=None, original_ref_f1=None, original_profile="", rescored_utc="", competition=competition,
        scoring=cfg.rule.label, stored_bytes=stored, split=split,
    )


def rejection_message(report: ModelReport) -> str:
    """One line for a rejected model: its first finding, and how many more there are."""
    if not report.violations:
        return "the worker returned no logits"
    first = report.violations[0]
    more = f" (and {len(report.violations) - 1} more; run `harness check` for all)" if len(report.violations) > 1 else ""
    return f"rejected by the verifier: {first}{more}"


def _refuse_over_budget(leaderboard: Path, base: Entry, checks: list[CapCheck]) -> None:
    """Append a failed `over_budget` row (free: not counted against the quota) and raise, when any cap is exceeded."""
    over = [c for c in checks if not c.within]
    if over:
        message = "over budget: " + "; ".join(c.line() for c in over)
        append_entry(leaderboard, replace(base, failure="over_budget", message=message))
        raise OverBudgetError(message)


def evaluate_submission(
    path: Path,
    cfg: Competition,
    leaderboard: Path,
    team: str | None = None,
    device: str = "cpu",
    on_progress: ProgressFn | None = None,
    now: datetime | None = None,
    split: Split = "test",
) -> EvaluationResult:
    """Score one submission and append it to `leaderboard` (see module docstring).

    The submission is staged first (`harness.staging`): the team, the hashes and both
    workers use that copy, never the original again. A failure after that appends a
    failed attempt (which does not count against the quota) and raises; nothing is
    ever scored from it. With `split="val"` it scores on the validation split (a
    starting kit's, or the host's) into a validation board: no window, no team
    registration, no quota.
    """
    path = Path(path)
    from harness import rules

    now = now or datetime.now(timezone.utc)
    hosted = split == "test"  # the host's rules; a validation board is one's own
    if hosted:
        rules.check_window(cfg, now)
    resolve_mode(cfg.sandbox)  # sandbox = "required" without bwrap: refuse before anything runs
    cfg.reference  # noqa: B018 - raises ConfigError when no reference values are pinned yet: nothing can be scored
    with staged(path, cfg.max_submission_mb) as submission:
        team = rules.submission_team(submission.file, team)  # before any of the submission's code runs
        entries = read_entries(leaderboard)  # a damaged board is reported before any work is done
        dataset, key = open_split(cfg, split)
        competition = identity_of(cfg)
        check_competition(entries, competition, leaderboard, cfg.source, ancestors(dataset.root))
        check_split(entries, split, leaderboard)
        on_board = {e.team for e in entries}  # the one name validator: look-alikes of the board's teams are refused
        if hosted:
            team = rules.check_team(cfg, team, on_board)
            check_quota(leaderboard, team, cfg.daily_limit, now)
        else:
            team = validate_team(team, on_board)
        base = new_entry(submission, team, cfg, now, competition, split)
        _refuse_over_budget(leaderboard, base, cfg.rule.checks({"weights_bytes": base.stored_bytes}))  # before any code runs
        try:
            outcome = run_isolated(submission, "evaluate", cfg, dataset, team, device, on_progress)
        except WorkerError as e:
            append_entry(leaderboard, replace(base, failure=e.failure, message=e.message))
            raise
    report = outcome.report
    base = replace(base, input_size=f"{report.input_size[0]}x{report.input_size[1]}", macs=report.macs,
                   params=report.params, profile_macs=json.dumps(report.profile_macs, sort_keys=True))
    if report.violations or outcome.logits is None:
        message = rejection_message(report)
        append_entry(leaderboard, replace(base, failure="rejected", message=message))
        raise RejectedError(message)
    if len(outcome.logits) != len(key.labels):
        append_entry(leaderboard, replace(base, failure="invalid_output", message="wrong number of logits"))
        raise WorkerError("invalid_output", f"the worker returned {len(outcome.logits)} logits for {len(key.labels)} images")
    _refuse_over_budget(leaderboard, base, cap_checks(report, base.stored_bytes, cfg))
    scores = score_split(outcome.logits, key, report.macs, cfg, split)
    entry = replace(
        base, status=STATUS_SCORED, public_f1=scores.public_f1, private_f1=scores.private_f1,
        public_score=scores.public_score, private_score=scores.private_score,
        predictions=encode_predictions(outcome.logits.argmax(axis=1)),
    )
    entry = append_entry(leaderboard, entry, daily_limit=cfg.daily_limit if hosted else None)
    remaining = remaining_today(leaderboard, entry.team, cfg.daily_limit, now) if hosted else None
    return EvaluationResult(entry=entry, report=report, scores=scores, remaining_today=remaining, sandbox=outcome.sandbox,
                            leaderboard=Path(leaderboard).resolve())


def evaluate_many(paths: list[Path], cfg: Competition, leaderboard: Path, device: str = "cpu", jobs: int = 1,
                  split: Split = "test") -> list[tuple[Path, EvaluationResult | None, HarnessError | None]]:
    """Evaluate several files, `jobs` at a time: (path, result or None, error or None) in the given order.

    Each file's failure is its own: it is returned, never raised, and the others go on.
    """
    from concurrent.futures import ThreadPoolExecutor

    def one(path: Path):
        try:
            return Path(path), evaluate_submission(path, cfg, leaderboard, None, device, split=split), None
        except HarnessError as e:
            return Path(path), None, e

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, paths))


@dataclass(frozen=True)
class Validation:
    """Figures on the validation split (a kit's `check`): macro-F1 and the score under the competition's format."""

    images: int
    f1: float
    terms: Score
    """The 2021 formula's terms."""
    score: float
    """The score under the configured format (the 2021 total, or the budget format's)."""

    def to_dict(self) -> dict:
        return {"split": "val", "images": self.images, "f1": self.f1, "score": self.score,
                "macs_term": self.terms.macs_term, "f1_term": self.terms.f1_term}


@dataclass(frozen=True)
class CheckResult:
    """What `harness check` found, and the sandbox it ran in; in a kit also the validation
    figures, the packages whose versions differ from the kit's pins and a foreign kit's identity."""

    report: ModelReport
    sandbox: SandboxMode
    caps: tuple[CapCheck, ...] = ()
    """Under scoring = "budget": each configured cap with the submission's value and headroom."""
    validation: Validation | None = None
    version_differences: tuple[str, ...] = ()
    identity_problem: str | None = None

    @property
    def passed(self) -> bool:
        return all(self.report.checks.values())

    def to_dict(self, cfg: Competition) -> dict:
        """The `check --json` object: the report, `passed`, `sandbox`, each violation's message and the MACs term."""
        from harness.scoring import macs_term

        d = self.report.to_dict()
        d["passed"] = self.passed
        d["sandbox"] = self.sandbox
        d["violations"] = [{**v, "message": f"{v['module']} ({v['module_type']}): {v['reason']}"} for v in d["violations"]]
        d["macs_term"] = macs_term(self.report.macs, cfg.reference_for("public")) if cfg.has_reference else None
        if cfg.rule.scoring == "budget":
            d |= cfg.rule.to_dict() | {"caps": [c.to_dict() for c in self.caps]}
        d["validation"] = self.validation.to_dict() if self.validation else None
        d["version_differences"] = list(self.version_differences)
        d["identity_problem"] = self.identity_problem
        return d


def check_submission(path: Path, cfg: Competition, device: str = "cpu", on_progress: ProgressFn | None = None) -> CheckResult:
    """Everything `evaluate` would say, without labels and without a row.

    Runs both workers as `evaluate` does, except that the clean one predicts the
    validation split, never the held-out images: `check` is free and leaves no row, so
    nothing it reports may depend on a held-out image (a graph that fails only on some of
    them would be an unlimited oracle). Returns its report, with `checks` (name -> passed)
    and `check_reasons`, and the sandbox it ran in. In a starting kit the validation
    split is also scored.
    """
    resolve_mode(cfg.sandbox)
    dataset, key = open_split(cfg, "val")
    with staged(Path(path), cfg.max_submission_mb) as submission:
        outcome = run_isolated(submission, "check", cfg, dataset, None, device, on_progress=on_progress)
        stored = submission_bytes(list(submission.files))
    report = outcome.report
    checks = dict(report.checks)
    checks["verifier"] = not report.violations
    reasons = dict(report.check_reasons)
    caps = cap_checks(report, stored, cfg)
    if caps:
        checks["caps"] = all(c.within for c in caps)
        reasons["caps"] = "; ".join(c.line() for c in caps if not c.within)
    validation = None
    if cfg.kit and outcome.logits is not None and len(outcome.logits) == len(key.labels) and cfg.has_reference:
        scores = score_split(outcome.logits, key, report.macs, cfg, "val")
        validation = Validation(len(key.labels), scores.public_f1, scores.public, scores.public_score)
    return CheckResult(replace(report, checks=checks, check_reasons=reasons), outcome.sandbox, tuple(caps), validation,
                       tuple(version_differences(cfg.pins)), identity_problem(cfg))


@dataclass(frozen=True)
class ReferenceCheck:
    """The reference recomputed, next to its pinned values."""

    macs: int
    public_f1: float
    private_f1: float
    pinned: Reference | None
    pinned_private_f1: float | None
    pinned_private_macs: int | None = None

    @property
    def drift(self) -> bool:
        return (
            self.pinned is None
            or self.macs != self.pinned.macs
            or (self.pinned_private_macs is not None and self.macs != self.pinned_private_macs)
            or abs(self.public_f1 - self.pinned.f1) > 1e-6
            or (self.pinned_private_f1 is not None and abs(self.private_f1 - self.pinned_private_f1) > 1e-6)
        )


def recompute_reference(cfg: Competition, device: str = "cpu", on_progress: ProgressFn | None = None) -> ReferenceCheck:
    """Recompute the reference's MACs and F1 on the held-out split."""
    if not cfg.reference_path.is_file():
        raise DataError(f"reference submission not found: {cfg.reference_path} ([tool.harness] reference)")
    dataset, key = open_split(cfg, "test")
    outcome = run_isolated(cfg.reference_path, "evaluate", cfg, dataset, "reference", device, on_progress=on_progress)
    if outcome.report.violations or outcome.logits is None:
        raise RejectedError(rejection_message(outcome.report))
    public_f1, private_f1 = part_f1s(outcome.logits, key, cfg.num_classes)  # the reference may not be pinned yet
    return ReferenceCheck(outcome.report.macs, public_f1, private_f1, cfg.pinned_reference, cfg.reference_private_f1,
                          cfg.reference_private_macs)
