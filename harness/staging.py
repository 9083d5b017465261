"""The one door for a submission's files: copy them into a private folder, then never look back.

`stage_submission` takes the submission file and the files beside it whose names are
the submission's stem, a dot and anything (`team4.pt`, `team4.meta.json`), matched
literally: a file named `*.py` gets only itself and `*.pt`-like siblings, never its
whole folder. Each must be a regular file (checked with `lstat` and opened with
`O_NOFOLLOW | O_NONBLOCK`, with no other hard link): a symlink, FIFO, device, socket,
folder or hard link of that name is refused with one line naming it and the rule. Each file and the total are capped, and
no read goes past the cap, so a file that grows while it is read cannot hang or flood
the parent. Hashing, the team declaration, the source scan and both workers' mounts
use the staged copy only.

Example:
    >>> import tempfile
    >>> src = Path(tempfile.mkdtemp())
    >>> _ = (src / "t.py").write_text("INPUT_SIZE = (8, 8)\\n")
    >>> with staged(src / "t.py", 1) as s:
    ...     [p.name for p in s.files], s.file.parent != src
    (['t.py'], True)
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from harness.errors import SubmissionError

WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
"""Siblings hashed as the submission's weights."""
DEFAULT_MAX_MB = 50
CHUNK = 2**20


@dataclass(frozen=True)
class StagedSubmission:
    """A submission copied into a private folder: the copies, and their hashes.

    `original` is kept as text for the row (`submission`); it is never read again.
    """

    original: Path
    folder: Path
    file: Path
    files: tuple[Path, ...]
    file_sha256: str
    weights_sha256: str

    @property
    def weights_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files if p != self.file and p.suffix in WEIGHT_SUFFIXES)


def is_sibling(name: str, stem: str) -> bool:
    """True when `name` is `stem`, a dot and at least one more character: a literal match, never a glob.

    >>> is_sibling("*.pt", "*"), is_sibling("team4.pt", "*"), is_sibling("[ab].pt", "a")
    (True, False, False)
    """
    return name.startswith(stem + ".") and len(name) > len(stem) + 1


def _refuse(path: Path, rule: str) -> SubmissionError:
    return SubmissionError(f"{path.name}: refused: {rule}; a submission is made of regular files only")


def _kind(mode: int) -> str | None:
    """What a non-regular file is, or None for a regular file."""
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def _copy_one(source: Path, target: Path, budget: int, cap_mb: int) -> tuple[int, str]:
    """Copy one regular file, reading at most `budget` + 1 bytes: (bytes copied, sha256)."""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise _refuse(source, f"cannot be opened as a plain file ({e.strerror})") from None
    digest, size = hashlib.sha256(), 0
    try:
        st = os.fstat(fd)
        kind = _kind(st.st_mode)
        if kind:
            raise _refuse(source, f"it is {kind}")
        if st.st_nlink > 1:  # a hard link shares the inode of a file elsewhere (the answer key?)
            raise _refuse(source, "it has other hard links (copy it instead)")
        with open(target, "xb") as out:
            while chunk := os.read(fd, min(CHUNK, budget + 1 - size)):
                size += len(chunk)
                if size > budget:
                    raise _refuse(source, f"the submission's files exceed max_submission_mb = {cap_mb}")
                digest.update(chunk)
                out.write(chunk)
    except BlockingIOError:
        raise _refuse(source, "it cannot be read without waiting") from None
    finally:
        os.close(fd)
    os.chmod(target, 0o644)
    return size, digest.hexdigest()


MAX_FILES = 64
"""The most files one submission may have (its source and its same-stem files)."""


def _name_problem(name: str) -> str | None:
    """Why a file name cannot be shown or mounted as it is (control, bidi or format characters), else None."""
    if any(unicodedata.category(ch)[0] == "C" for ch in name):
        return "its name holds control, bidi or format characters"
    return None


def stage_submission(path: Path, folder: Path, max_mb: int = DEFAULT_MAX_MB) -> StagedSubmission:
    """Copy `path` and its literal same-stem siblings into `folder` (module docstring); SubmissionError on a refused file."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        raise SubmissionError(f"submission not found: {path}") from None
    if path.suffix != ".py":
        raise SubmissionError(f"{path}: a submission is a .py file")
    if _name_problem(path.name):
        raise SubmissionError(f"{ascii(path.name)}: refused: {_name_problem(path.name)}")
    if _kind(mode):
        raise _refuse(path, f"it is {_kind(mode)}")
    stem = path.name[: -len(".py")]
    try:
        names = sorted(e.name for e in os.scandir(path.parent) if is_sibling(e.name, stem))
    except OSError as e:
        raise SubmissionError(f"{path.parent}: cannot list the submission's folder ({e.strerror})") from None
    if len(names) > MAX_FILES:
        raise SubmissionError(f"{ascii(path.name)}: refused: it has {len(names):,} same-stem files; a submission has at most {MAX_FILES}")
    budget, copies, hashes = max_mb * 2**20, [], {}
    for name in names:
        source = path.parent / name
        if _name_problem(name):
            raise SubmissionError(f"{ascii(name)}: refused: {_name_problem(name)}")
        if _kind(os.lstat(source).st_mode):
            raise _refuse(source, f"it is {_kind(os.lstat(source).st_mode)}")
        size, hashes[name] = _copy_one(source, folder / name, budget, max_mb)
        budget -= size
        copies.append(folder / name)
    if path.name not in hashes:
        raise SubmissionError(f"submission not found: {path}")
    weights = hashlib.sha256()
    for name in names:  # the weights' hash: each weight file's bytes in name order, as before staging
        if name != path.name and Path(name).suffix in WEIGHT_SUFFIXES:
            weights.update((folder / name).read_bytes())
    return StagedSubmission(original=path, folder=folder, file=folder / path.name, files=tuple(copies),
                            file_sha256=hashes[path.name], weights_sha256=weights.hexdigest())


@contextlib.contextmanager
def staged(path: Path, max_mb: int = DEFAULT_MAX_MB) -> Iterator[StagedSubmission]:
    """`stage_submission` into a fresh private folder (readable by the worker's user), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="harness-staged-"))
    try:
        os.chmod(folder, 0o755)
        yield stage_submission(path, folder, max_mb)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
