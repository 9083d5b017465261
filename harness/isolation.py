"""Two workers per submission, and who sees what.

- The first worker imports the submission. It sees the submission's own files and a
  private scratch folder; it gets *validation* images, preprocessed here in the
  parent (its own `transform` crosses over as `A.to_dict` data). It checks the
  contract, counts and verifies on them, and exports the model as a code-free graph.
- The clean worker never runs submission code. It sees the exported graph, the
  submission's source (read as text for the source scan) and the held-out images:
  it rebuilds the model with real torch.nn layers, counts, verifies and predicts.
  Its count and its logits are the ones scored; the two counts must agree.
- The parent holds the answer key; no worker ever gets it.

Usage:
    outcome = run_isolated(Path("submissions/team4.py"), "evaluate", cfg, dataset, None, "cpu")
    outcome.report.team                             # 'team4': the parent's, never the worker's
    outcome.report.macs, outcome.logits.shape      # (191336, (554, 9))
"""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from harness import cache
from harness import data as data_mod
from harness import preprocess
from harness.config import Competition
from harness.data import Dataset
from harness.errors import HarnessError, SubmissionError, WorkerError
from harness.protocol import Loaded, WorkerMode, WorkerRequest, one_line
from harness.report import ModelReport, Violation, fixed_notes
from harness.rules import submission_team
from harness.sandbox import SandboxMode, resolve_mode
from harness.staging import StagedSubmission, is_sibling, staged
from harness.worker import INPUTS, WorkerLimits, WorkerOutcome, new_outdir, run_worker

ProgressFn = Callable[[int, int], None]


def submission_files(path: Path) -> list[Path]:
    """The files staging takes for `path`: the file and its literal same-stem regular siblings (names only, nothing read).

    Evaluation itself uses the staged copies (`StagedSubmission.files`), never these.
    """
    path = Path(path).absolute()
    return sorted(p for p in path.parent.iterdir()
                  if (p == path or is_sibling(p.name, path.stem)) and stat.S_ISREG(os.lstat(p).st_mode))


def submission_bytes(files: list[Path]) -> int:
    """The size of a submission as stored: the total bytes of the files its worker is given.

    Pass the staged copies (`StagedSubmission.files`): what the worker cannot read cannot
    hold weights, so these bytes are all a submission can load from.

    >>> submission_bytes([Path("submissions/zoo_quantized.py"), Path("submissions/zoo_quantized.pt")]) > 0
    True
    """
    return sum(Path(f).stat().st_size for f in files)


@dataclass(frozen=True)
class Prepared:
    """What the parent made of a `loaded` message: the inputs of both workers."""

    validation: Path
    test: Path
    transform_problem: str | None


def prepare_inputs(loaded: Loaded, mode: WorkerMode, cfg: Competition, dataset: Dataset, outdir: Path,
                   on_progress: ProgressFn | None = None) -> Prepared:
    """Preprocess validation images for the first worker (into `outdir`, which it sees read-only)
    and the held-out ones for the clean worker.

    A submission's own preprocessing is rebuilt from its `A.to_dict` data and checked on
    one image; in evaluate mode a problem with it is a failure, in check mode a failed
    check (the default preprocessing stands in, so that the other checks still run).
    Both tensors are cached per pipeline.
    """
    size = loaded.input_size
    samples = data_mod.validation_images(dataset, max(cfg.batch_size, 8))
    problem, own = loaded.transform_problem, None
    if loaded.transform is not None and problem is None:
        try:
            own = preprocess.rebuild_transform(loaded.transform)
            problem = preprocess.check_pipeline(own, preprocess.load_image(samples[0]), size)
        except SubmissionError as e:
            problem = e.message
    if problem and mode != "check":
        raise WorkerError("invalid_output", problem, "transform")
    if problem:
        own = None  # check mode: the default preprocessing stands in
    key = preprocess.pipeline_key(loaded.transform if own is not None else None, cfg.mean, cfg.std)

    def pipeline():
        return own if own is not None else preprocess.default_transform(size, cfg.mean, cfg.std)

    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if on_progress:
            on_progress(done, len(dataset.test_images))

    val, _ = preprocess.cached_tensor(samples, dataset.manifest_sha256, "val", size, key, pipeline)
    test, _ = preprocess.cached_tensor(dataset.test_images, dataset.manifest_sha256, "test", size, key, pipeline, advance,
                                       verify=False)  # run_isolated verifies it while the first worker runs
    return Prepared(validation=_hand_over(val, outdir, INPUTS), test=test, transform_problem=problem)


def _hand_over(source: Path, folder: Path, name: str | None = None) -> Path:
    """A private read-only copy of a (just verified) cached tensor in a worker's input folder: never a link."""
    return cache.private_copy(source, folder / (name or source.name))


def _input_folder() -> Path:
    """A folder the parent fills and a worker sees read-only."""
    folder = Path(tempfile.mkdtemp(prefix="harness-inputs-"))
    os.chmod(folder, 0o755)
    return folder


def run_isolated(
    submission: StagedSubmission | Path, mode: WorkerMode, cfg: Competition, dataset: Dataset, team: str | None,
    device: str, on_progress: ProgressFn | None = None,
) -> WorkerOutcome:
    """Run a staged submission in two isolated workers under the competition's limits (module docstring).

    A path is staged first (`harness.staging`); the workers only ever see the staged
    copy. The team is the parent's (`rules.submission_team`), fixed before either starts.
    """
    if not isinstance(submission, StagedSubmission):
        with staged(submission, cfg.max_submission_mb) as copy:
            return run_isolated(copy, mode, cfg, dataset, team, device, on_progress)
    team = submission_team(submission.file, team)
    sandbox: SandboxMode = resolve_mode(cfg.sandbox)
    first_dir, clean_dir = new_outdir(sandbox), new_outdir(sandbox)
    first_inputs, clean_inputs = _input_folder(), _input_folder()
    limits = WorkerLimits(cfg.limits.timeout_s, cfg.limits.memory_mb)
    graph_ready, recount_inputs, clean_result = threading.Event(), {}, {}
    prepared: dict = {}

    def request(worker_mode: WorkerMode, outdir: Path) -> WorkerRequest:
        return WorkerRequest(mode=worker_mode, submission=str(submission.file), team=team, profile=cfg.profile,
                             batch_size=cfg.batch_size, num_classes=cfg.num_classes, device=device, outdir=str(outdir))

    def clean_worker() -> None:  # starts now, imports torch while the first worker runs
        def inputs(_ready) -> dict:
            graph_ready.wait()
            return recount_inputs

        try:
            clean_result["outcome"] = run_worker(
                request("recount", clean_dir), inputs, WorkerLimits(2 * limits.timeout_s, limits.memory_mb), sandbox,
                readable=[submission.file, first_dir, clean_inputs], writable=[clean_dir], on_progress=on_progress)
        except WorkerError as e:
            clean_result["error"] = e

    def provide(loaded: Loaded) -> dict:
        prepared["inputs"] = prepare_inputs(loaded, mode, cfg, dataset, first_inputs, on_progress)
        handing.start()  # verify and copy the test tensor while the first worker counts
        return {"tensor": str(prepared["inputs"].validation), "transform_problem": prepared["inputs"].transform_problem}

    def hand_over_test() -> None:  # now, before the cache can evict it; verified by its digest
        try:
            prepared["test"] = cache.verified_copy(prepared["inputs"].test, clean_inputs / prepared["inputs"].test.name)
        except HarnessError as e:
            prepared["test_error"] = e

    handing = threading.Thread(target=hand_over_test, daemon=True)
    thread = threading.Thread(target=clean_worker, daemon=True)
    thread.start()
    try:
        first = run_worker(request(mode, first_dir), provide, limits, sandbox, readable=[*submission.files, first_inputs],
                           writable=[first_dir])
        if first.report.violations:
            return _unscored(first, team)
        if "inputs" not in prepared:
            raise WorkerError("crashed", "the worker finished without asking for its inputs")
        handing.join()
        if "test_error" in prepared:
            raise prepared["test_error"]
        recount_inputs.update(graph_dir=str(first_dir), tensor=str(prepared["test"]), team=team)
        graph_ready.set()
        thread.join()
        if "error" in clean_result:
            e = clean_result["error"]
            if e.stage != "recount" or e.failure not in ("crashed", "invalid_output"):
                raise e
            problem = Violation("<model>", "graph", "recount", 0, f"cannot be recounted from its exported graph: {e.message}")
            return _unscored(first, team, (problem,))
        clean = clean_result["outcome"]
        return replace(clean, report=merge_reports(first.report, clean.report, team))
    finally:
        graph_ready.set()  # an empty answer tells a waiting clean worker to stop: no need to wait for it
        if handing.is_alive():
            handing.join()
        for folder in (first_dir, first_inputs, clean_dir, clean_inputs):
            shutil.rmtree(folder, ignore_errors=True)


def _unscored(first: WorkerOutcome, team: str, problems: tuple[Violation, ...] = ()) -> WorkerOutcome:
    """The first worker's outcome when nothing of it is scored: the parent's team, the fixed notes, no logits."""
    report = first.report
    return replace(first, logits=None, report=replace(report, team=team, notes=fixed_notes(report.notes),
                                                      violations=report.violations + problems))


def merge_reports(first: ModelReport, clean: ModelReport, team: str) -> ModelReport:
    """The clean recount's count and findings, with what only the submission's own process can tell.

    The team is the parent's. Whatever the first worker reports that the clean worker
    re-derives (MACs, input size) must agree, else the entry is rejected; its notes are
    kept only when they are sentences of the harness's own (`report.fixed_notes`).
    """
    violations = list(dict.fromkeys(first.violations + clean.violations))
    if first.team != one_line(team, 64):
        violations.append(Violation("<model>", "report", "team", 0, "its own process reported another team than the one "
                                    "the harness fixed before any of its code ran"))
    if not violations and first.macs != clean.macs:
        violations.append(Violation(
            "<model>", "report", "recount", abs(first.macs - clean.macs),
            f"its own process reported {first.macs:,} MACs but the clean recount of its exported graph finds {clean.macs:,}"))
    if not violations and first.input_size != clean.input_size:
        violations.append(Violation("<model>", "report", "recount", 0, "its own process reported another input size "
                                    "than the images the harness prepared for it"))
    checks, reasons = dict(first.checks), dict(first.check_reasons)
    if checks:
        checks["clean_recount"] = first.macs == clean.macs and not clean.violations
        if not checks["clean_recount"]:
            reasons["clean_recount"] = f"{first.macs:,} MACs in its own process, {clean.macs:,} in the clean recount"
    return replace(clean, team=team, input_size=clean.input_size, weights_bytes=first.weights_bytes,
                   sparsity=first.sparsity, notes=fixed_notes(first.notes), checks=checks, check_reasons=reasons,
                   violations=tuple(violations))
