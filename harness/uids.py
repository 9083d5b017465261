"""Worker uids: each running worker gets a uid of its own, so that no submission's process
limit (which the kernel counts per uid) can starve another evaluation.

Uids come from the configured range `worker_uids = [first, count]` (uids no account of
this machine has) and are held with an exclusive `flock` on one lock file per uid, in a
root-only folder. A lock is per open file, so two threads of one `harness` (`evaluate
--jobs 2`) and two separate `harness` processes never hold the same uid; the kernel
drops a lock when its holder dies, so nothing stale stays behind. Only a harness that
runs as root switches uids; otherwise nothing is allocated.

Example:
    with held_uids((910_000, 64), 2) as (first, clean):
        ...   # first worker runs as `first`, the clean worker as `clean`
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import tempfile
import time
from pathlib import Path
from typing import Iterator

from harness.errors import WorkerError

LOCK_DIR = Path(tempfile.gettempdir()) / "harness-worker-uids"
WAIT_S = 0.2


def _lock_dir() -> Path:
    LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    return LOCK_DIR


def _try_hold(uid: int) -> int | None:
    """An open, exclusively locked file descriptor for `uid`, or None when another worker holds it."""
    fd = os.open(_lock_dir() / f"uid-{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _unused(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return True
    return False  # an account of this machine: never lend its uid to a submission


@contextlib.contextmanager
def held_uids(uid_range: tuple[int, int], needed: int, wait_s: float = 600.0) -> Iterator[list[int]]:
    """`needed` distinct free uids of `uid_range`, held until the block ends.

    Waits up to `wait_s` for uids to be released; then a WorkerError says to widen the range.
    """
    first, count = uid_range
    held: dict[int, int] = {}
    deadline = time.monotonic() + wait_s
    try:
        while len(held) < needed:
            for uid in range(first, first + count):
                if uid not in held and _unused(uid):
                    fd = _try_hold(uid)
                    if fd is not None:
                        held[uid] = fd
                        if len(held) == needed:
                            break
            if len(held) < needed:
                if time.monotonic() > deadline:
                    raise WorkerError("crashed", f"no free worker uid in worker_uids = [{first}, {count}] after {wait_s:g} s: "
                                                 "too many evaluations at once; widen the range in the configuration")
                time.sleep(WAIT_S)
        yield list(held)
    finally:
        for fd in held.values():
            os.close(fd)  # closing the only descriptor releases the lock
