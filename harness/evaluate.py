"""The paths of `harness evaluate`, `harness check` and `harness reference`.

evaluate: find the data (build the default on first use), run the submission in
the isolated worker (count, verify, predict), score the logits against the
answer key here in the parent, append one row.

Example:
    >>> cfg = load_config()
    >>> result = evaluate_submission(Path("submissions/team4.py"), cfg, Path("/tmp/lb.csv"))
    >>> result.entry.public_score == result.public.total
    True
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
from harness.data import Dataset
from harness.errors import DataError, QuotaError, RejectedError, SubmissionError, WorkerError
from harness.fileio import atomic_write
from harness.leaderboard import STATUS_FAILED, STATUS_SCORED, Entry, append_entry, check_quota, encode_predictions, read_entries, remaining_today
from harness.metrics import macro_f1
from harness.report import ModelReport, Violation
from harness.scoring import Reference, Score, compute_score
from harness.submission import file_hashes
from harness.worker import WorkerOutcome, WorkerRequest, new_outdir, run_worker

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
    """F1 and score on the public and private parts of the held-out split."""

    public_f1: float
    private_f1: float
    public: Score
    private: Score


@dataclass(frozen=True)
class EvaluationResult:
    """One scored submission: the appended row and everything measured."""

    entry: Entry
    report: ModelReport
    scores: PartScores
    remaining_today: int
    sandboxed: bool


def needs_build(cfg: Competition) -> bool:
    """True when the configured data set is the built-in default and is not there yet."""
    root = cfg.data_dir
    return cfg.builder == "mnist" and (not root.exists() or not any(root.iterdir()))


def ensure_dataset(cfg: Competition) -> Dataset:
    """Open the competition's data set, building the default one on first use."""
    if needs_build(cfg):
        return data_mod.build_mnist(cfg.data_dir, cfg.split_seed)
    return data_mod.open_dataset(cfg.data_dir, cfg.classes)


def score_parts(logits: np.ndarray, key: data_mod.AnswerKey, macs: int, cfg: Competition) -> PartScores:
    """Macro-F1 and score on each part, each against `cfg.reference_for(part)`."""
    predictions = logits.argmax(axis=1)
    public_f1 = macro_f1(key.labels[key.public], predictions[key.public], cfg.num_classes)
    private_f1 = macro_f1(key.labels[key.private], predictions[key.private], cfg.num_classes)
    return PartScores(public_f1, private_f1, compute_score(macs, public_f1, cfg.reference_for("public")),
                      compute_score(macs, private_f1, cfg.reference_for("private")))


def _inputs_for(dataset: Dataset, cfg: Competition, on_progress: ProgressFn | None, submission: Path):
    """What the worker gets once it has said its input size: a cached tensor when there is one."""

    def provide(loaded: dict) -> dict:
        sample = str(dataset.test_images[0])
        size = tuple(loaded["input_size"])
        if loaded["has_transform"]:
            own = data_mod.transformed_tensor_path(dataset, size, file_hashes(submission)[0])
            if own.is_file() and data_mod.usable_tensor(own, len(dataset.test_images), size):
                return {"tensor": str(own), "sample_image": sample}
            return {"images": [str(p) for p in dataset.test_images], "sample_image": sample, "save_tensor": True}
        total = len(dataset.test_images)
        done = [0]

        def advance(n):
            done[0] += n
            if on_progress:
                on_progress(done[0], total)

        path, _hit = data_mod.cached_test_tensor(dataset, size, cfg.mean, cfg.std, advance)
        return {"tensor": str(path), "sample_image": None}

    return provide


def run_isolated(
    path: Path, mode: str, cfg: Competition, dataset: Dataset, team: str | None, device: str,
    provide: Callable[[dict], dict] | None = None, on_progress: ProgressFn | None = None,
    hidden: tuple[Path, ...] = (),
) -> WorkerOutcome:
    """Run a submission with the competition's limits, in two isolated workers.

    The first imports the submission: contract, static checks, the verifier on one
    batch, ptflops' count, and an export of the model as a code-free graph. The second
    never runs submission code: it rebuilds the model from that graph, counts it with
    ptflops, verifies it and predicts every test image. Its count and its logits are
    the ones scored; the two counts must agree.
    """
    import shutil
    import threading

    provide = provide or _inputs_for(dataset, cfg, on_progress, Path(path))
    given: dict = {}

    def remember(loaded: dict) -> dict:
        given.update(provide(loaded))
        return given

    limits = {"memory_mb": cfg.limits.memory_mb}
    secret = {"hidden": [dataset.root / data_mod.ANSWERS, *hidden], "hidden_dirs": [dataset.root]}
    source_dir = Path(path).resolve().parent
    first_dir, clean_dir = new_outdir(), new_outdir()
    graph_ready, recount_inputs, clean_result = threading.Event(), {}, {}

    def clean_worker() -> None:  # starts now, imports torch while the first worker runs
        def inputs(_ready: dict) -> dict:
            graph_ready.wait()
            return recount_inputs

        request = WorkerRequest(mode="recount", submission=str(Path(path).resolve()), team=team, profile=cfg.profile,
                                batch_size=cfg.batch_size, num_classes=cfg.num_classes, device=device, outdir=clean_dir)
        try:
            clean_result["outcome"] = run_worker(
                request, inputs, readable=[source_dir, Path(first_dir), data_mod.cache_dir()], on_progress=on_progress,
                timeout_s=2 * cfg.limits.timeout_s, **limits, **secret)
        except WorkerError as e:
            clean_result["error"] = e

    thread = threading.Thread(target=clean_worker, daemon=True)
    thread.start()
    try:
        request = WorkerRequest(mode=mode, submission=str(Path(path).resolve()), team=team, profile=cfg.profile,
                                batch_size=cfg.batch_size, num_classes=cfg.num_classes, device=device, outdir=first_dir)
        first = run_worker(request, remember, readable=[source_dir, dataset.root / "test", data_mod.cache_dir()],
                           on_progress=None, timeout_s=cfg.limits.timeout_s, **limits, **secret)
        tensor = given.get("tensor")
        transformed = Path(first_dir) / data_mod.TRANSFORMED
        if transformed.is_file():
            own = data_mod.transformed_tensor_path(dataset, first.report.input_size, file_hashes(Path(path))[0])
            if data_mod.usable_tensor(transformed, len(dataset.test_images), first.report.input_size):
                atomic_write(own, transformed.read_bytes())
                tensor = str(own)
        if first.report.violations:
            return replace(first, logits=None)  # rejected: nothing of it is ever scored
        if tensor is None:
            raise WorkerError("crashed", "the worker finished without asking for the test images")
        recount_inputs.update(graph_dir=first_dir, tensor=tensor, team=first.report.team)
        graph_ready.set()
        thread.join()
        if "error" in clean_result:
            e = clean_result["error"]
            if e.stage != "recount" or e.failure not in ("crashed", "invalid_output"):
                raise e
            problem = Violation("<model>", "graph", "recount", 0, f"cannot be recounted from its exported graph: {e.message}")
            return replace(first, logits=None, report=replace(first.report, violations=first.report.violations + (problem,)))
        clean = clean_result["outcome"]
        return replace(clean, report=merge_reports(first.report, clean.report))
    finally:
        graph_ready.set()  # an empty answer tells a waiting clean worker to stop: no need to wait for it
        shutil.rmtree(first_dir, ignore_errors=True)
        shutil.rmtree(clean_dir, ignore_errors=True)


def merge_reports(first: ModelReport, clean: ModelReport) -> ModelReport:
    """The clean recount's count and findings, with what only the submission's own process can tell."""
    violations = list(dict.fromkeys(first.violations + clean.violations))
    if first.macs != clean.macs and not violations:
        violations.append(Violation(
            "<model>", "report", "recount", abs(first.macs - clean.macs),
            f"its own process reported {first.macs:,} MACs but the clean recount of its exported graph finds {clean.macs:,}"))
    checks, reasons = dict(first.checks), dict(first.check_reasons)
    if checks:
        checks["clean_recount"] = first.macs == clean.macs and not clean.violations
        if not checks["clean_recount"]:
            reasons["clean_recount"] = f"{first.macs:,} MACs in its own process, {clean.macs:,} in the clean recount"
    return replace(clean, team=first.team, input_size=first.input_size, weights_bytes=first.weights_bytes,
                   sparsity=first.sparsity, notes=first.notes, checks=checks, check_reasons=reasons,
                   violations=tuple(violations))


def _base_entry(path: Path, team: str, cfg: Competition, now: datetime) -> Entry:
    file_sha, weights_sha = file_hashes(path)
    return Entry(
        id=0, time_utc=now.isoformat(timespec="seconds"), team=team, status=STATUS_FAILED, failure="", message="",
        submission=str(path), file_sha256=file_sha, weights_sha256=weights_sha, input_size="", macs=None, params=None,
        profile=cfg.profile, profile_macs="", profile_version=PROFILES_VERSION, public_f1=None, private_f1=None,
        public_score=None, private_score=None,
        ref_macs=cfg.reference.macs, ref_f1=cfg.reference.f1, harness_version=harness_version(),
        ptflops_version=ptflops_version(), predictions="", original_public_score=None, original_private_score=None,
        original_ref_macs=None, original_ref_f1=None, original_profile="", rescored_utc="",
    )


def rejection_message(report: ModelReport) -> str:
    first = report.violations[0]
    more = f" (and {len(report.violations) - 1} more; run `harness check` for all)" if len(report.violations) > 1 else ""
    return f"rejected by the verifier: {first}{more}"


def evaluate_submission(
    path: Path,
    cfg: Competition,
    leaderboard: Path,
    team: str | None = None,
    device: str = "cpu",
    on_progress: ProgressFn | None = None,
    now: datetime | None = None,
) -> EvaluationResult:
    """Score one submission and append it to `leaderboard` (see module docstring).

    A failure after the submission was found appends a failed attempt (which does
    not count against the quota) and raises; nothing is ever scored from it.
    """
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"submission not found: {path}")
    if path.suffix != ".py":
        raise SubmissionError(f"{path}: a submission is a .py file")
    read_entries(leaderboard)  # a damaged board is reported before any work is done
    dataset = ensure_dataset(cfg)
    key = data_mod.read_answer_key(dataset)
    now = now or datetime.now(timezone.utc)
    if team:
        check_quota(leaderboard, team, cfg.daily_limit, now)
    resolved_team = [team or path.stem]
    provide_default = _inputs_for(dataset, cfg, on_progress, path)

    def provide(loaded: dict) -> dict:
        resolved_team[0] = team or loaded["team"]
        check_quota(leaderboard, resolved_team[0], cfg.daily_limit, now)
        return provide_default(loaded)

    base = _base_entry(path, resolved_team[0], cfg, now)
    try:
        outcome = run_isolated(path, "evaluate", cfg, dataset, team, device, provide, on_progress, hidden=(Path(leaderboard).resolve(),))
    except QuotaError:
        raise
    except WorkerError as e:
        append_entry(leaderboard, replace(base, team=resolved_team[0], failure=e.failure, message=e.message))
        raise
    report = outcome.report
    base = replace(base, team=report.team, input_size=f"{report.input_size[0]}x{report.input_size[1]}", macs=report.macs,
                   params=report.params, profile_macs=json.dumps(report.profile_macs, sort_keys=True))
    if report.violations or outcome.logits is None:
        message = rejection_message(report) if report.violations else "the worker returned no logits"
        append_entry(leaderboard, replace(base, failure="rejected", message=message))
        raise RejectedError(message)
    if len(outcome.logits) != len(key.labels):
        append_entry(leaderboard, replace(base, failure="invalid_output", message="wrong number of logits"))
        raise WorkerError("invalid_output", f"the worker returned {len(outcome.logits)} logits for {len(key.labels)} images")
    scores = score_parts(outcome.logits, key, report.macs, cfg)
    entry = replace(
        base, status=STATUS_SCORED, public_f1=scores.public_f1, private_f1=scores.private_f1,
        public_score=scores.public.total, private_score=scores.private.total,
        predictions=encode_predictions(outcome.logits.argmax(axis=1)),
    )
    entry = append_entry(leaderboard, entry, daily_limit=cfg.daily_limit)
    remaining = remaining_today(leaderboard, entry.team, cfg.daily_limit, now)
    return EvaluationResult(entry=entry, report=report, scores=scores, remaining_today=remaining, sandboxed=outcome.sandboxed)


def check_submission(path: Path, cfg: Competition, device: str = "cpu", on_progress: ProgressFn | None = None) -> ModelReport:
    """Everything `evaluate` would say, without labels and without a row.

    Runs in the worker on the held-out images (never their labels). Returns the
    report with `checks` (name -> passed) and `check_reasons`.
    """
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"submission not found: {path}")
    dataset = ensure_dataset(cfg)
    outcome = run_isolated(path, "check", cfg, dataset, None, device, on_progress=on_progress)
    report = outcome.report
    checks = dict(report.checks)
    checks["verifier"] = not report.violations
    return replace(report, checks=checks)


@dataclass(frozen=True)
class ReferenceCheck:
    """The reference recomputed, next to its pinned values."""

    macs: int
    public_f1: float
    private_f1: float
    pinned: Reference
    pinned_private_f1: float | None
    pinned_private_macs: int | None = None

    @property
    def drift(self) -> bool:
        return (
            self.macs != self.pinned.macs
            or (self.pinned_private_macs is not None and self.macs != self.pinned_private_macs)
            or abs(self.public_f1 - self.pinned.f1) > 1e-6
            or (self.pinned_private_f1 is not None and abs(self.private_f1 - self.pinned_private_f1) > 1e-6)
        )


def recompute_reference(cfg: Competition, device: str = "cpu", on_progress: ProgressFn | None = None) -> ReferenceCheck:
    """Recompute the reference's MACs and F1 on the held-out split."""
    if not cfg.reference_path.is_file():
        raise DataError(f"reference submission not found: {cfg.reference_path} ([tool.harness] reference)")
    dataset = ensure_dataset(cfg)
    key = data_mod.read_answer_key(dataset)
    outcome = run_isolated(cfg.reference_path, "evaluate", cfg, dataset, "reference", device, on_progress=on_progress)
    if outcome.report.violations or outcome.logits is None:
        raise RejectedError(rejection_message(outcome.report))
    scores = score_parts(outcome.logits, key, outcome.report.macs, cfg)
    return ReferenceCheck(outcome.report.macs, scores.public_f1, scores.private_f1, cfg.reference,
                          cfg.reference_private_f1, cfg.reference_private_macs)
