"""A worker process: the parent's side (`run_worker`) and the child's (`main`).

The parent starts the worker (`python -m harness.sandbox`, which confines the process and
then runs this module) in a new process group, inside the sandbox of `harness.sandbox`
when bubblewrap works. They talk in JSON lines over
the worker's stdin and a private copy of its stdout (see `harness.protocol`);
whatever the submission prints goes to stderr, of which only a short tail is kept.

Two kinds of worker:

- "evaluate"/"check": imports the submission, sends its contract values (and its own
  preprocessing, serialised with `A.to_dict`), gets *validation* images preprocessed
  by the parent, counts and verifies the model on them and exports it as a code-free
  graph. It never sees a test image.
- "recount": the clean worker. No submission code runs there: it rebuilds the model
  from the exported graph with real torch.nn layers, counts, verifies and predicts the
  held-out images.

Limits: wall-clock time, and resident memory of the whole process tree plus what it wrote
(its capped /tmp and its output folder); going past either kills it and raises
`WorkerError` with its failure class.

Usage:
    outcome = run_worker(request, provide_inputs, limits, "bwrap", readable=[sub_file], writable=[outdir])
    outcome.report.macs
"""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from harness.errors import HarnessError, SubmissionError, WorkerError
from harness.protocol import (
    MAX_LINE, Done, Event, Failed, Loaded, Progress, Ready, WorkerRequest, decode_line, encode, one_line, parse_event,
    parse_report,
)
from harness.report import ModelReport
from harness.sandbox import (
    WORKER_COMMAND, SandboxMode, bwrap_command, first_child, kill_tree, prepare_outdir, tree_rss_bytes, worker_env,
    written_bytes,
)

POLL_S = 0.2
LOGITS = "logits.npy"
INPUTS = "inputs.npy"
"""The images the parent hands to a worker, in its own output folder."""


@dataclass(frozen=True)
class WorkerOutcome:
    """A worker's report and, from the clean worker, the logits of every held-out image."""

    report: ModelReport
    logits: np.ndarray | None
    sandbox: SandboxMode


@dataclass(frozen=True)
class WorkerLimits:
    """Time, and memory with what the worker wrote (its /tmp and output folder) counted in;
    `uid`: the user it runs as when the harness is root (None: `sandbox.WORKER_UID`)."""

    timeout_s: float
    memory_mb: int
    uid: int | None = None


# ------------------------------------------------------------------ parent side

def new_outdir(sandbox: SandboxMode, uid: int | None = None) -> Path:
    """A private scratch folder for one worker's output, owned by the user it runs as."""
    path = Path(tempfile.mkdtemp(prefix="harness-worker-"))
    prepare_outdir(path, sandbox == "bwrap", uid)
    return path


class _Channel:
    """The worker's stdout and stderr, pumped by threads: bounded lines, a short stderr tail."""

    def __init__(self, proc: subprocess.Popen):
        self.messages: queue.Queue = queue.Queue()
        self.stderr_tail: deque[str] = deque(maxlen=3)
        self._proc = proc
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        self._stderr = threading.Thread(target=self._pump_stderr, daemon=True)
        self._stderr.start()

    def _pump_stdout(self) -> None:
        for line in iter(lambda: self._proc.stdout.readline(MAX_LINE), b""):
            self.messages.put(line if line.endswith(b"\n") or len(line) < MAX_LINE else b"<oversized>")
        self.messages.put(None)

    def _pump_stderr(self) -> None:
        for line in iter(lambda: self._proc.stderr.readline(4096), b""):
            text = one_line(line.decode("utf-8", "replace"))
            if text:
                self.stderr_tail.append(text)

    def tail(self) -> str:
        self._stderr.join(timeout=2)
        return " | ".join(self.stderr_tail)

    def send(self, obj: dict | str) -> None:
        try:
            self._proc.stdin.write(((obj if isinstance(obj, str) else json.dumps(obj)) + "\n").encode())
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass


def run_worker(
    request: WorkerRequest,
    provide_inputs: Callable[[Loaded | None], dict],
    limits: WorkerLimits,
    sandbox: SandboxMode,
    readable: list[Path],
    writable: list[Path],
    on_progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> WorkerOutcome:
    """Run one worker; raise WorkerError on any failure.

    `provide_inputs(loaded)` gets the worker's validated first message (None from the
    clean worker, which only says it is ready) and returns what it works on. Setting
    `cancel` kills the worker at the next poll.
    """
    command = list(WORKER_COMMAND)
    limit = limits.memory_mb * 2**20
    if sandbox == "bwrap":
        command = bwrap_command(command, readable, writable, tmp_bytes=limit)
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=worker_env(sandbox == "bwrap", limits.uid, file_bytes=limit), start_new_session=True,
                            cwd=request.outdir)
    channel = _Channel(proc)
    deadline = time.monotonic() + limits.timeout_s
    inside: int | None = None

    def fail(failure: str, message: str, stage: str = ""):
        kill_tree(proc)
        tail = channel.tail() if failure in ("crashed", "out_of_memory") else ""
        show_tail = tail and not message.startswith(Path(request.submission).name)
        raise WorkerError(failure, one_line(message + (f" (worker stderr: {tail})" if show_tail else "")), one_line(stage, 32))

    channel.send(request.to_json())
    last_poll = 0.0
    try:
        while True:
            try:
                line = channel.messages.get(timeout=POLL_S)
            except queue.Empty:
                line = b""
            now = time.monotonic()
            if cancel is not None and cancel.is_set():
                fail("crashed", "stopped: the other worker of this evaluation failed")
            if now > deadline:
                fail("timeout", f"the submission ran past the time limit of {limits.timeout_s:g} s and was stopped")
            if now - last_poll >= POLL_S:  # time-based: a busy 2-core machine feels every /proc scan
                last_poll = now
                inside = inside or (first_child(proc.pid) if sandbox == "bwrap" else None)
                if tree_rss_bytes(proc.pid) + written_bytes(inside, writable) > limit:
                    fail("out_of_memory", f"the submission used more than the memory limit of {limits.memory_mb} MB "
                                          "(memory and the files it wrote together) and was stopped")
            if line is None:
                proc.wait()
                if proc.returncode in (-signal.SIGKILL, 137):
                    fail("out_of_memory", "the worker was killed (out of memory?)")
                fail("crashed", f"the worker exited with code {proc.returncode} before finishing")
            if line == b"<oversized>":
                fail("invalid_output", "the worker sent a message larger than the protocol allows")
            msg = decode_line(line.decode("utf-8", "replace")) if line else None
            outcome = _on_event(msg, request, channel, provide_inputs, on_progress, fail, sandbox) if msg else None
            if outcome is not None:
                kill_tree(proc)
                return outcome
    finally:
        if proc.poll() is None:
            kill_tree(proc)


def _on_event(msg: dict, request: WorkerRequest, channel: _Channel, provide_inputs, on_progress, fail,
              sandbox: SandboxMode) -> WorkerOutcome | None:
    """Act on one message of a worker; its outcome once it is done."""
    event: Event | None = parse_event(msg)
    if isinstance(event, Loaded | Ready):
        channel.send(provide_inputs(event if isinstance(event, Loaded) else None))
    elif isinstance(event, Progress) and on_progress:
        on_progress(event.done, event.total)
    elif isinstance(event, Failed):
        fail(event.failure, event.message, event.stage)
    elif isinstance(event, Done):
        logits = _read_logits(Path(request.outdir) / LOGITS, request.num_classes) if event.logits else None
        return WorkerOutcome(report=parse_report(event.report), logits=logits, sandbox=sandbox)
    return None


def _read_logits(path: Path, num_classes: int) -> np.ndarray:
    try:
        logits = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        raise WorkerError("invalid_output", "the worker's logits file is missing or unreadable") from None
    if logits.ndim != 2 or logits.shape[1] != num_classes or not np.issubdtype(logits.dtype, np.floating):
        raise WorkerError("invalid_output", f"the worker's logits have shape {logits.shape}; expected (N, {num_classes})")
    return logits


# ------------------------------------------------------------------ worker side

class _Stage:
    """Where the worker is, for the error event: a failure names its stage."""

    name = "start"


def _emitter(channel):
    def emit(event: Event) -> None:
        channel.write(encode(event) + "\n")
        channel.flush()

    return emit


def serialised_transform(sub) -> tuple[dict | None, str | None]:
    """The submission's own preprocessing as `A.to_dict` data, or the reason it cannot cross."""
    pipeline = sub.transform()
    if pipeline is None:
        return None, None
    import albumentations as A

    try:
        data = A.to_dict(pipeline)
        json.dumps(data)
    except Exception as e:
        return None, (f"transform(input_size) cannot be serialised with A.to_dict ({type(e).__name__}: {one_line(e, 120)}); "
                      "the harness applies your preprocessing outside your process: build it from albumentations' "
                      "own transforms (no A.Lambda, no custom classes)")
    return data, None


def _serve_submission(request: WorkerRequest, snapshot, emit, stage: _Stage, stdin) -> None:
    """The first worker: contract, count and verify on validation images, export the graph."""
    import torch

    from harness.graph import export_model
    from harness.inspection import analyse, pre_submission_checks, prepare_model
    from harness.report import Violation
    from harness.submission import load_submission

    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    if request.device.startswith("cuda") and not torch.cuda.is_available():
        raise HarnessError(f"--device {request.device}: no CUDA device on this machine; use --device cpu")
    stage.name = "contract"
    sub = load_submission(Path(request.submission), request.team)
    stage.name = "transform"
    transform, problem = serialised_transform(sub)
    emit(Loaded(sub.team, sub.input_size, transform, problem))
    inputs = json.loads(stdin.readline())
    images = np.load(inputs["tensor"], mmap_mode="r")  # validation images, preprocessed by the parent
    stage.name = "weights_load"
    model = prepare_model(sub, request.device)
    stage.name = "output"
    export_problem = None
    try:  # the code-free copy that the clean worker recounts and predicts with
        export_model(model, torch.from_numpy(np.array(images[:2], dtype=np.float32)).to(request.device), Path(request.outdir))
    except SubmissionError as e:
        export_problem = e.message
    images = images[: request.batch_size]
    report, _logits = analyse(sub, model, images, request.profile, request.batch_size, request.num_classes, snapshot,
                              request.device, _progress_emitter(emit, len(images)))
    if export_problem:
        report = replace(report, violations=report.violations + (Violation(
            "<model>", type(model).__name__, "export", 0,
            f"{export_problem}: the harness recounts every model from its exported graph in a process where no "
            "submission code runs; write the forward without data-dependent Python control flow"),))
    checks, reasons = pre_submission_checks(sub, model, images[: min(8, len(images))], request.num_classes, request.device)
    if request.mode != "check":  # evaluate refuses whatever check would fail: the two never disagree on a verdict
        failed = tuple(Violation("<model>", type(model).__name__, name, 0, f"fails the {name} check: {reasons.get(name, '')}")
                       for name, ok in checks.items() if not ok)
        report = replace(report, violations=report.violations + failed)
    else:
        transform_problem = inputs.get("transform_problem")
        checks = {"contract": True, "weights_load": True, "transform": not transform_problem, **checks}
        if transform_problem:
            reasons["transform"] = transform_problem
        report = replace(report, checks=checks, check_reasons=reasons)
    emit(Done(report.to_dict(), logits=False))


def _progress_emitter(emit, total: int):
    """A callback counting predicted images; emits a progress event a few times a second."""
    done, last = 0, 0.0

    def advance(n: int) -> None:
        nonlocal done, last
        done += n
        if time.monotonic() - last > 0.25 or done == total:
            last = time.monotonic()
            emit(Progress(done, total))

    return advance


def _serve_recount(request: WorkerRequest, snapshot, emit, stage: _Stage, stdin) -> None:
    """The clean worker: no submission code runs here. Rebuild, count, verify, predict.

    It starts alongside the first worker, imports torch meanwhile, says it is ready and
    waits for the graph: its start-up costs nothing on the evaluation's critical path.
    """
    import gc

    import torch

    from harness.graph import rebuild_model
    from harness.inspection import analyse
    from harness.submission import Submission

    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    emit(Ready())
    inputs = json.loads(stdin.readline() or "{}")
    if not inputs.get("graph_dir"):
        return  # the first worker failed: nothing to recount
    stage.name = "recount"
    model, names = rebuild_model(Path(inputs["graph_dir"]))
    stage.name = "output"
    images = np.load(inputs["tensor"], mmap_mode="r")
    gc.freeze()  # the tracer allocates per op: spare the collector a scan of everything torch imported
    # the file is read as text only (the source scan); it is never imported here
    stub = Submission(Path(request.submission), inputs.get("team") or "", tuple(images.shape[2:]), None, False)
    try:  # test images are in play from here: a failure says where, never what the exception said (it could carry pixels)
        report, logits = analyse(stub, model, images, request.profile, request.batch_size, request.num_classes, snapshot,
                                 request.device, _progress_emitter(emit, len(images)))
    except MemoryError:
        raise
    except Exception as e:
        from harness.verify import failed_op

        where = failed_op()
        raise WorkerError("crashed", f"the rebuilt graph failed ({type(e).__name__}) in op {where[1]} of {names.get(where[0].removeprefix('layers.'), where[0])}"
                          if where else f"the rebuilt graph failed ({type(e).__name__}) outside any traced op") from None

    def original(module: str) -> str:  # "layers.m3" -> the submission's own module path
        head, _, rest = module.partition(" ")
        return names.get(head.removeprefix("layers."), head) + (f" {rest}" if rest else "")

    report = replace(
        report,
        layers=tuple(replace(row, module=original(row.module)) for row in report.layers),
        violations=tuple(replace(v, module=original(v.module)) for v in report.violations),
    )
    if logits is not None:
        np.save(Path(request.outdir) / LOGITS, logits)
    emit(Done(report.to_dict(), logits=logits is not None))


def main() -> None:
    """The worker's main, run by `python -m harness.sandbox` once the process is confined."""
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the submission's prints go to stderr, never into the protocol
    sys.stdout = sys.stderr
    emit = _emitter(channel)
    stage = _Stage()

    def emit_error(failure: str, message: str) -> None:
        emit(Failed(failure, one_line(message), stage.name))

    try:
        from harness.tamper import Snapshot

        snapshot = Snapshot.take()  # before any submission code runs
        request = WorkerRequest(**json.loads(sys.stdin.readline()))
        serve = _serve_recount if request.mode == "recount" else _serve_submission
        serve(request, snapshot, emit, stage, sys.stdin)
    except WorkerError as e:
        emit_error(e.failure, e.message)
    except MemoryError:
        emit_error("out_of_memory", "the submission ran out of memory")
    except HarnessError as e:
        emit_error("crashed", e.message)
    except Exception as e:  # the submission's own failure
        emit_error("crashed", f"{type(e).__name__}: {one_line(e)}")
    channel.close()


if __name__ == "__main__":
    main()
