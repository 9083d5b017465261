"""The host's tensor cache: each file stored with its digest, verified before use, evicted beyond a size cap.

A cached file `X.npy` has its sha256 beside it in `X.npy.sha256`, checked by `is_intact`
before every use. A worker never gets the cache file itself, only `private_copy`'s
read-only copy, so nothing a worker does can reach the cache. When the cache grows past
`$HARNESS_CACHE_MB` (default 2048 MB), the least recently used files go first.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> store(folder / "a.npy", b"tensor bytes")
    >>> is_intact(folder / "a.npy")
    True
    >>> _ = (folder / "a.npy").write_bytes(b"poisoned")
    >>> is_intact(folder / "a.npy"), (folder / "a.npy").exists()
    (False, False)
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from harness.errors import ConfigError, DataError
from harness.fileio import atomic_write

DEFAULT_CACHE_MB = 2048
DIGEST = ".sha256"


def limit_bytes() -> int:
    """The cache's size cap: `$HARNESS_CACHE_MB` megabytes, default `DEFAULT_CACHE_MB`."""
    raw = os.environ.get("HARNESS_CACHE_MB", "").strip()
    if not raw:
        return DEFAULT_CACHE_MB * 2**20
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"HARNESS_CACHE_MB: expected a positive number of megabytes, got {raw!r}")
    return value * 2**20


def _digest_of(path: Path) -> Path:
    return path.with_name(path.name + DIGEST)


def _forget(path: Path) -> None:
    path.unlink(missing_ok=True)
    _digest_of(path).unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def has_digest(path: Path) -> bool:
    """True when a digest is stored beside `path` (a file cached before digests existed is rebuilt)."""
    return _digest_of(path).is_file()


def is_intact(path: Path) -> bool:
    """True when `path` matches the digest stored beside it (it is then marked as just used); else it is removed."""
    try:
        matches = _sha256(path) == _digest_of(path).read_text().strip()
    except OSError:
        matches = False
    if not matches:
        _forget(path)
        return False
    os.utime(_digest_of(path))  # the digest's time is the last use: the tensor's own stays its build time
    return True


def store(path: Path, data: bytes) -> None:
    """Write `data` and its digest, then evict the least recently used other files beyond the cap."""
    atomic_write(path, data)
    atomic_write(_digest_of(path), hashlib.sha256(data).hexdigest())
    evict(path.parent, limit_bytes(), keep=path)


def evict(folder: Path, limit: int, keep: Path | None = None) -> list[Path]:
    """Remove cached files, least recently used first, until `folder` holds at most `limit` bytes; the removed files."""
    files = []
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False) and not entry.name.endswith(DIGEST) and not entry.name.startswith("."):
            path = Path(entry.path)
            try:
                used = os.stat(_digest_of(path)).st_mtime
            except OSError:
                used = 0.0  # no digest: never verified, first to go
            files.append((used, entry.stat(follow_symlinks=False).st_size, path))
    total, removed = sum(size for _, size, _ in files), []
    for _, size, path in sorted(files):
        if total <= limit:
            break
        if path != keep:
            _forget(path)
            total -= size
            removed.append(path)
    return removed


def private_copy(path: Path, target: Path) -> Path:
    """A read-only copy of a cached file for one worker, never a link: nothing it does can reach the cache.

    Call it right after `is_intact`: the cache is never mounted in a worker, so only the
    host itself could change the file in between.
    """
    try:
        shutil.copyfile(path, target)
    except OSError:
        raise DataError(f"the cached tensor {path.name} vanished before it was used; run the command again") from None
    os.chmod(target, 0o444)
    return target


def verified_copy(path: Path, target: Path) -> Path:
    """`private_copy` of a file that `is_intact`; DataError when it no longer matches its digest (it is then removed)."""
    if not is_intact(path):
        raise DataError(f"the cached tensor {path.name} no longer matched its digest and was removed; run the command again")
    return private_copy(path, target)
