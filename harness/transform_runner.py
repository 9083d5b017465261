"""A submission's own preprocessing, applied outside the parent under the worker's limits.

A `transform(input_size)` arrives as `A.to_dict` data; rebuilt, it is still the
submission's choice of work (an upscale to 8192 x 8192 and a blur is a valid pipeline).
So it runs in a child process (`python -m harness.transform_runner`) that the parent
watches like a worker: past the time limit or the memory limit it is killed, and the
parent only receives the tensors, as .npy files written into the cache. No submission
code runs there: only albumentations' registered transforms, rebuilt from data.

Usage:
    problem = preprocess_outside({"transform": ...}, samples, {"val": (paths, out), "test": (paths, out)}, (28, 28),
                                 timeout_s=600, memory_mb=8192)
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from harness.errors import WorkerError

POLL_S = 0.2


def preprocess_outside(transform: dict, sample: Path, parts: dict[str, tuple[list[Path], Path]], input_size: tuple[int, int],
                       timeout_s: float, memory_mb: int, on_advance: Callable[[int], None] | None = None) -> str | None:
    """Rebuild `transform`, check it on `sample`, then write each part's tensor to its path.

    Returns the reason the pipeline is unusable (nothing written) or None; raises
    WorkerError("timeout" | "out_of_memory" | "crashed", stage "transform") when the child
    goes past a limit or dies.
    """
    from harness.sandbox import kill_tree, tree_rss_bytes

    request = {"transform": transform, "sample": str(sample), "input_size": list(input_size),
               "parts": {name: [[str(p) for p in paths], str(out)] for name, (paths, out) in parts.items()}}
    proc = subprocess.Popen([sys.executable, "-m", "harness.transform_runner"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(lambda: proc.stdout.readline(4096), b"")), daemon=True)
    reader.start()
    proc.stdin.write(json.dumps(request).encode() + b"\n")
    proc.stdin.close()
    deadline, seen = time.monotonic() + timeout_s, 0
    try:
        while proc.poll() is None:
            if time.monotonic() > deadline:
                raise WorkerError("timeout", f"the submission's transform ran past the time limit of {timeout_s:g} s "
                                             "and was stopped", "transform")
            if tree_rss_bytes(proc.pid) > memory_mb * 2**20:
                raise WorkerError("out_of_memory", f"the submission's transform used more than the memory limit of "
                                                   f"{memory_mb} MB and was stopped", "transform")
            seen = _advance(lines, seen, on_advance)
            time.sleep(POLL_S)
    finally:
        kill_tree(proc)
    reader.join(timeout=2)
    _advance(lines, seen, on_advance)
    done = [json.loads(line) for line in lines if line.startswith(b"{")]
    if proc.returncode != 0 or not done:
        raise WorkerError("crashed", f"preprocessing with the submission's transform failed (exit code {proc.returncode})",
                          "transform")
    return done[-1].get("problem")


def _advance(lines: list[bytes], seen: int, on_advance) -> int:
    """Report the progress marks read since `seen`; the new count of lines read."""
    now = len(lines)
    count = sum(1 for line in lines[seen:now] if line == b"+\n")
    if on_advance and count:
        on_advance(count)
    return now


def main() -> None:
    """The child: rebuild, check on one image, transform each part, write it; one JSON line at the end."""
    from harness import cache
    from harness.errors import HarnessError
    from harness.preprocess import check_pipeline, load_image, rebuild_transform, transform_images

    request = json.loads(sys.stdin.readline())
    size = tuple(request["input_size"])
    try:
        pipeline = rebuild_transform(request["transform"])
        problem = check_pipeline(pipeline, load_image(Path(request["sample"])), size)
    except HarnessError as e:
        problem = e.message
    if problem is None:
        for name, (paths, out) in request["parts"].items():
            advance = (lambda n: print("+", flush=True)) if name == "test" else None
            tensor = transform_images([Path(p) for p in paths], pipeline, advance)
            buffer = io.BytesIO()
            np.save(buffer, tensor)
            cache.store(Path(out), buffer.getvalue())  # with its digest, as every cached tensor
    print(json.dumps({"problem": problem}), flush=True)


if __name__ == "__main__":
    main()
