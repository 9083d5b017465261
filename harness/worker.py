"""The isolated worker: the submission's code runs here, never in the harness.

The parent (`run_worker`) starts `python -m harness.worker` in a new process
group, inside `bwrap` when it is installed (no network, read-only file system, a
private /tmp, the data set's labels and the leaderboard hidden). They talk in JSON
lines over the worker's stdin and a private copy of its stdout; whatever the
submission prints goes to stderr. The worker never sees labels: it gets images,
returns logits and its measurements, and the parent scores them.

Limits: wall-clock time and resident memory of the whole process tree; going past
either kills the group and raises `WorkerError` with its failure class.

Example:
    >>> outcome = run_worker(Path("submissions/team4.py"), "evaluate", cfg, inputs)
    >>> outcome.report.macs, outcome.logits.shape
    (..., (554, 9))
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from harness.errors import HarnessError, SubmissionError, WorkerError
from harness.report import ModelReport

POLL_S = 0.2


@dataclass(frozen=True)
class WorkerRequest:
    """What the worker needs besides the submission: nothing secret."""

    mode: str  # "evaluate" or "check"
    submission: str
    team: str | None
    profile: str
    batch_size: int
    num_classes: int
    device: str
    outdir: str


@dataclass(frozen=True)
class WorkerOutcome:
    """The worker's report and, in evaluate mode, the logits of every test image."""

    report: ModelReport
    logits: np.ndarray | None
    sandboxed: bool


# ------------------------------------------------------------------ parent side

@lru_cache(maxsize=1)
def sandbox_available() -> bool:
    """True when `bwrap` exists and can create a sandbox on this machine."""
    if os.environ.get("HARNESS_SANDBOX", "").lower() in ("0", "off", "no"):
        return False
    exe = shutil.which("bwrap")
    if not exe:
        return False
    try:
        probe = subprocess.run([exe, "--ro-bind", "/", "/", "--unshare-net", "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def sandbox_command(command: list[str], readable: list[Path], writable: list[Path], hidden: list[Path], hidden_dirs: list[Path]) -> list[str]:
    """Wrap `command` in bwrap: read-only /, private /tmp, no network, secrets hidden.

    `readable` paths are bound read-only again after /tmp is replaced (they may live
    under /tmp); `hidden_dirs` become empty; `hidden` files read as empty.
    """
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
            "--unshare-net", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--die-with-parent", "--new-session"]
    inside_hidden = [p for p in readable if any(d == p or d in p.parents for d in hidden_dirs)]
    for p in readable:
        if p.exists() and p not in inside_hidden:
            args += ["--ro-bind", str(p), str(p)]
    for d in hidden_dirs:  # after the binds above, which may contain them
        if d.is_dir():
            args += ["--tmpfs", str(d)]
    for p in inside_hidden:  # what the worker may see inside a hidden folder (the test images)
        if p.exists():
            args += ["--ro-bind", str(p), str(p)]
    for p in writable:
        args += ["--bind", str(p), str(p)]
    for f in hidden:
        if f.exists() and not any(d in f.parents for d in hidden_dirs):
            args += ["--ro-bind", "/dev/null", str(f)]
    return args + ["--chdir", "/tmp", "--"] + command


def _tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_worker(
    request: WorkerRequest,
    provide_inputs: Callable[[dict], dict],
    timeout_s: float,
    memory_mb: int,
    readable: list[Path],
    hidden: list[Path],
    hidden_dirs: list[Path],
    on_progress: Callable[[int, int], None] | None = None,
) -> WorkerOutcome:
    """Run one submission in an isolated worker; raise WorkerError on any failure.

    `provide_inputs(loaded)` gets the worker's first message (team, input size,
    whether it has its own transform) and returns where the images are.
    """
    sandboxed = sandbox_available()
    package_root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "harness.worker"]
    if sandboxed:
        command = sandbox_command(command, readable + [package_root, Path(sys.prefix)], [Path(request.outdir)], hidden, hidden_dirs)
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_CONFIG",)}
    env["PYTHONPATH"] = str(package_root)
    env.setdefault("OMP_NUM_THREADS", str(max(1, os.cpu_count() or 1)))
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env, start_new_session=True, text=True, bufsize=1, cwd=request.outdir,
    )
    messages: queue.Queue = queue.Queue()
    stderr_tail: deque[str] = deque(maxlen=12)

    def pump_stdout():
        for line in proc.stdout:
            messages.put(line)
        messages.put(None)

    def pump_stderr():
        for line in proc.stderr:
            stderr_tail.append(line.rstrip())

    threading.Thread(target=pump_stdout, daemon=True).start()
    stderr_thread = threading.Thread(target=pump_stderr, daemon=True)
    stderr_thread.start()
    deadline = time.monotonic() + timeout_s
    limit = memory_mb * 1024 * 1024

    def fail(failure: str, message: str, stage: str = ""):
        _kill(proc)
        stderr_thread.join(timeout=2)
        tail = " | ".join(line for line in list(stderr_tail)[-3:] if line.strip())
        show_tail = tail and failure in ("crashed", "out_of_memory") and not message.startswith(Path(request.submission).name)
        raise WorkerError(failure, message + (f" (worker stderr: {tail})" if show_tail else ""), stage)

    def send(obj: dict):
        try:
            proc.stdin.write(json.dumps(obj) + "\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    send(request.__dict__)
    last_poll = 0.0
    try:
        while True:
            try:
                line = messages.get(timeout=POLL_S)
            except queue.Empty:
                line = ""
            now = time.monotonic()
            if now > deadline:
                fail("timeout", f"the submission ran past the time limit of {timeout_s:g} s and was stopped")
            if now - last_poll >= POLL_S:  # time-based: a busy 2-core machine feels every /proc scan
                last_poll = now
                if _tree_rss_bytes(proc.pid) > limit:
                    fail("out_of_memory", f"the submission used more than the memory limit of {memory_mb} MB and was stopped")
            if line is None:
                proc.wait()
                if proc.returncode in (-signal.SIGKILL, 137):
                    fail("out_of_memory", "the worker was killed (out of memory?)")
                fail("crashed", f"the worker exited with code {proc.returncode} before finishing")
            if not line:
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            event = msg.get("event")
            if event == "loaded":
                send(provide_inputs(msg))
            elif event == "progress" and on_progress:
                on_progress(int(msg["done"]), int(msg["total"]))
            elif event == "error":
                fail(msg.get("failure", "crashed"), msg.get("message", "the worker failed"), msg.get("stage", ""))
            elif event == "done":
                report = ModelReport.from_dict(msg["report"])
                logits_path = Path(request.outdir) / "logits.npy"
                logits = np.load(logits_path) if msg.get("logits") and logits_path.is_file() else None
                _kill(proc)
                return WorkerOutcome(report=report, logits=logits, sandboxed=sandboxed)
    finally:
        if proc.poll() is None:
            _kill(proc)


# ------------------------------------------------------------------ worker side

def _serve(channel, stdin, stage: list[str]) -> None:
    from harness.tamper import Snapshot

    snapshot = Snapshot.take()  # before any submission code runs
    request = WorkerRequest(**json.loads(stdin.readline()))

    def emit(obj):
        channel.write(json.dumps(obj) + "\n")
        channel.flush()

    if request.mode == "recount":
        return _recount(request, snapshot, emit, stage, stdin)

    from harness.data import TRANSFORMED, load_image, transform_images
    from harness.inspection import analyse, check_transform, pre_submission_checks, prepare_model
    from harness.submission import load_submission

    import torch

    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    if request.device.startswith("cuda") and not torch.cuda.is_available():
        raise HarnessError(f"--device {request.device}: no CUDA device on this machine; use --device cpu")
    stage[0] = "contract"
    sub = load_submission(Path(request.submission), request.team)
    emit({"event": "loaded", "team": sub.team, "input_size": list(sub.input_size), "has_transform": sub.has_transform})
    inputs = json.loads(stdin.readline())
    transform_problem = None
    stage[0] = "transform"
    if inputs.get("sample_image"):
        transform_problem = check_transform(sub, load_image(Path(inputs["sample_image"])))
        if transform_problem and request.mode == "evaluate":
            raise SubmissionError(transform_problem)
    if inputs.get("tensor"):
        images = np.load(inputs["tensor"], mmap_mode="r")
    else:
        images = transform_images([Path(p) for p in inputs["images"]], sub.transform())
        if inputs.get("save_tensor"):  # the parent caches it for this very submission file
            np.save(Path(request.outdir) / TRANSFORMED, images)
    stage[0] = "weights_load"
    model = prepare_model(sub, request.device)
    stage[0] = "output"
    export_problem = None
    try:  # the code-free copy that the clean worker recounts and predicts with
        from harness.graph import export_model

        export_model(model, torch.from_numpy(np.array(images[:2], dtype=np.float32)).to(request.device), Path(request.outdir))
    except SubmissionError as e:
        export_problem = e.message
    # Here only the first batch is predicted: the scored logits come from the clean worker.
    images = images[: request.batch_size]
    total = len(images)
    advance = _progress_emitter(emit, total)

    report, logits = analyse(sub, model, images, request.profile, request.batch_size, request.num_classes, snapshot, request.device, advance)
    from dataclasses import replace

    if export_problem:
        from harness.report import Violation

        report = replace(report, violations=report.violations + (Violation(
            "<model>", type(model).__name__, "export", 0,
            f"{export_problem}: the harness recounts every model from its exported graph in a process where no "
            "submission code runs; write the forward without data-dependent Python control flow"),))
    if request.mode == "check":
        checks, reasons = pre_submission_checks(sub, model, images[: min(8, total)], request.num_classes, request.device)
        checks = {"contract": True, "weights_load": True, "transform": transform_problem is None, **checks}
        if transform_problem:
            reasons["transform"] = transform_problem
        report = replace(report, checks=checks, check_reasons=reasons)
    if logits is not None:
        np.save(Path(request.outdir) / "logits.npy", logits)
    emit({"event": "done", "report": report.to_dict(), "logits": logits is not None})


def _progress_emitter(emit, total: int):
    """A callback counting predicted images; emits a progress event a few times a second."""
    done, last = [0], [0.0]

    def advance(n: int) -> None:
        done[0] += n
        if time.monotonic() - last[0] > 0.25 or done[0] == total:
            last[0] = time.monotonic()
            emit({"event": "progress", "done": done[0], "total": total})

    return advance


def _recount(request: WorkerRequest, snapshot, emit, stage: list[str], stdin) -> None:
    """The clean worker: no submission code runs here. Rebuild, count, verify, predict.

    It starts alongside the first worker, imports torch meanwhile, says it is ready and
    waits for the graph: its start-up costs nothing on the evaluation's critical path.
    """
    from dataclasses import replace

    import torch

    from harness.graph import rebuild_model
    from harness.inspection import analyse
    from harness.submission import Submission

    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    emit({"event": "loaded", "ready": True})
    inputs = json.loads(stdin.readline() or "{}")
    if not inputs.get("graph_dir"):
        return  # the first worker failed: nothing to recount
    stage[0] = "recount"
    model, names = rebuild_model(Path(inputs["graph_dir"]))
    stage[0] = "output"
    images = np.load(inputs["tensor"], mmap_mode="r")
    import gc

    gc.freeze()  # the tracer allocates per op: spare the collector a scan of everything torch imported
    # the file is read as text only (the source scan); it is never imported here
    stub = Submission(Path(request.submission), inputs.get("team") or "", tuple(images.shape[2:]), None, False)
    total = len(images)
    advance = _progress_emitter(emit, total)

    report, logits = analyse(stub, model, images, request.profile, request.batch_size, request.num_classes, snapshot, request.device, advance)

    def original(module: str) -> str:  # "layers.m3" -> the submission's own module path
        head, _, rest = module.partition(" ")
        return names.get(head.removeprefix("layers."), head) + (f" {rest}" if rest else "")

    report = replace(
        report,
        layers=tuple(replace(row, module=original(row.module)) for row in report.layers),
        violations=tuple(replace(v, module=original(v.module)) for v in report.violations),
    )
    if logits is not None:
        np.save(Path(request.outdir) / "logits.npy", logits)
    emit({"event": "done", "report": report.to_dict(), "logits": logits is not None})


def main() -> None:
    """Entry point of `python -m harness.worker`."""
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the submission's prints go to stderr, never into the protocol
    sys.stdout = sys.stderr

    stage = ["start"]

    def emit_error(failure, message):
        channel.write(json.dumps({"event": "error", "failure": failure, "message": message, "stage": stage[0]}) + "\n")
        channel.flush()

    try:
        _serve(channel, sys.stdin, stage)
    except WorkerError as e:
        emit_error(e.failure, e.message)
    except MemoryError:
        emit_error("out_of_memory", "the submission ran out of memory")
    except HarnessError as e:
        emit_error("crashed", e.message)
    except Exception as e:  # the submission's own failure
        emit_error("crashed", f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}")
    channel.close()


def new_outdir() -> str:
    """A private scratch folder for one worker's output."""
    return tempfile.mkdtemp(prefix="harness-worker-")


if __name__ == "__main__":
    main()
