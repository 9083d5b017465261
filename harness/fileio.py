"""Atomic file replacement: a temporary file in the same folder, fsync, `os.replace`.

Example:
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "x.json"
    >>> atomic_write(target, b"{}")
    >>> target.read_bytes()
    b'{}'
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes | str) -> None:
    """Replace `path` with `data` so that readers see the old or the new file, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o644)  # readable like any file the user writes (mkstemp makes it private)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
