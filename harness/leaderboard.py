"""The leaderboard file: one schema, locked appends, strict reading, quotas.

Every row is an `Entry`; the CSV columns are `COLUMNS`, derived from the dataclass,
never typed twice. Files written before `profile_version` existed are read as counted
by profiles version 1 and upgraded to the current schema on the next append. Appends
take an exclusive `filelock`, re-read and validate the file under the lock, then append
one line and fsync. A malformed file is reported with its line number and never
written to. Rewrites (`rewrite_entries`) keep a timestamped backup and replace the file
atomically.

Example:
    >>> entries = read_entries(Path("leaderboard.csv"))
    >>> sorted({e.team for e in entries if e.scored})[:2]
    ['reference', 'team4']
"""
from __future__ import annotations

import base64
import contextlib
import csv
import dataclasses
import io
import json
import os
import shutil
import zlib
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import numpy as np
from filelock import FileLock, Timeout

from harness.config import Profile
from harness.errors import Failure, LeaderboardError, QuotaError
from harness.fileio import atomic_write
from harness.scoring import Part

Status = Literal["scored", "failed"]
STATUS_SCORED: Status = "scored"
STATUS_FAILED: Status = "failed"
LOCK_TIMEOUT_S = 120


@dataclass(frozen=True)
class Entry:
    """One leaderboard row: a scored submission or a failed attempt."""

    id: int
    time_utc: str
    team: str
    status: Status
    failure: Failure | Literal[""]
    message: str
    submission: str
    file_sha256: str
    weights_sha256: str
    input_size: str
    macs: int | None
    params: int | None
    profile: Profile
    profile_macs: str
    profile_version: int
    public_f1: float | None
    private_f1: float | None
    public_score: float | None
    private_score: float | None
    ref_macs: int | None
    ref_f1: float | None
    harness_version: str
    ptflops_version: str
    predictions: str
    original_public_score: float | None
    original_private_score: float | None
    original_ref_macs: int | None
    original_ref_f1: float | None
    original_profile: str
    rescored_utc: str
    competition: str = ""
    scoring: str = "2021"
    """The format the scores were computed under: "2021" or "budget/<metric>" (`Rule.label`)."""
    stored_bytes: int | None = None
    """The bytes of the submission's files: the source and every same-stem file."""

    @property
    def scored(self) -> bool:
        return self.status == STATUS_SCORED

    @property
    def time(self) -> datetime:
        return datetime.fromisoformat(self.time_utc)

    def score(self, part: Part) -> float:
        return self.public_score if part == "public" else self.private_score

    def f1(self, part: Part) -> float:
        return self.public_f1 if part == "public" else self.private_f1

    def to_dict(self, private: bool = False) -> dict:
        """The row as JSON-ready fields, without its predictions; private values only with `private`."""
        return {k: v for k, v in dataclasses.asdict(self).items()
                if k != "predictions" and (private or not k.startswith(("private", "original_private")))}


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Entry))
ADDED_COLUMNS = {"profile_version": "1", "competition": "", "scoring": "2021", "stored_bytes": ""}
"""Columns added since the first schema, with the cell a row written before them gets;
a file without them is read so and upgraded on its next append."""
_TYPES = {f.name: f.type for f in fields(Entry)}
_NULLABLE = {"public_f1", "private_f1", "public_score", "private_score", "macs", "params", "ref_macs", "ref_f1",
             "original_public_score", "original_private_score", "original_ref_macs", "original_ref_f1", "stored_bytes"}


def encode_predictions(predictions: np.ndarray) -> str:
    """Predicted class indices, compressed into one CSV-safe string."""
    return base64.b64encode(zlib.compress(np.asarray(predictions, dtype=np.uint16).tobytes(), 9)).decode()


def decode_predictions(text: str) -> np.ndarray:
    """Inverse of `encode_predictions`."""
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.uint16).astype(np.int64)


def _to_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _from_cell(name: str, text: str, line: int, path: Path):
    kind = _TYPES[name].split(" | ")[0]  # "int | None" reads as int; Literal types are strings
    if text == "" and (name in _NULLABLE or kind not in ("int", "float")):
        return None if name in _NULLABLE else ""
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        raise LeaderboardError(f"{path}:{line}: column {name!r} holds {text!r}, not a number; the file is damaged (it was not changed)") from None
    return text


def read_entries(path: Path) -> list[Entry]:
    """Read and validate every row; a missing file is an empty board.

    Raises LeaderboardError with the line number of the first problem.
    """
    path = Path(path)
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LeaderboardError(f"cannot read leaderboard {path}: {e}") from None
    if not text.strip():
        return []
    reader = csv.reader(io.StringIO(text, newline=""))
    header = tuple(next(reader))
    older = header == tuple(c for c in COLUMNS if c in header) and set(COLUMNS) - set(header) <= set(ADDED_COLUMNS)
    if header != COLUMNS and not older:
        unknown = [c for c in header if c not in COLUMNS]
        raise LeaderboardError(
            f"{path}:1: unknown leaderboard schema"
            + (f" (unexpected column {unknown[0]!r})" if unknown else f" ({len(header)} columns, expected {len(COLUMNS)})")
            + "; the file was not changed"
        )
    if not text.endswith("\n"):
        raise LeaderboardError(f"{path}:{text.count(chr(10)) + 1}: the last row is truncated (no line end); the file was not changed")
    entries = []
    for row in reader:
        line = reader.line_num
        if len(row) != len(header):
            raise LeaderboardError(f"{path}:{line}: {len(row)} fields, expected {len(header)}; the file is damaged (it was not changed)")
        cells = {**ADDED_COLUMNS, **dict(zip(header, row))}
        values = {name: _from_cell(name, cells[name], line, path) for name in COLUMNS}
        if values["status"] not in (STATUS_SCORED, STATUS_FAILED):
            raise LeaderboardError(f"{path}:{line}: status must be {STATUS_SCORED} or {STATUS_FAILED}, got {values['status']!r}")
        entries.append(Entry(**values))
    return entries


def _row(entry: Entry) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([_to_cell(getattr(entry, c)) for c in COLUMNS])
    return buffer.getvalue()


def _current_header(path: Path) -> bool:
    with path.open(encoding="utf-8", newline="") as f:
        return tuple(next(csv.reader([f.readline()]), [])) == COLUMNS


def check_competition(entries: list[Entry], competition: str, path: Path, config: Path | None = None) -> int:
    """Refuse a board that holds rows of another competition; returns how many rows predate the record.

    Raises LeaderboardError naming the file, the first foreign row and both competitions.
    """
    for line, e in enumerate(entries, start=2):
        if e.competition and e.competition != competition:
            where = f" (configuration {config})" if config else ""
            raise LeaderboardError(
                f"{path}:{line}: row {e.id} belongs to competition {e.competition}, not {competition}{where}; "
                "use this competition's board (--leaderboard) or its configuration (--config)")
    return sum(1 for e in entries if not e.competition)


@contextlib.contextmanager
def locked(path: Path):
    """The board's exclusive lock; waiting longer than LOCK_TIMEOUT_S is a LeaderboardError."""
    try:
        with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S):
            yield
    except Timeout:
        raise LeaderboardError(f"{path}: could not lock the leaderboard within {LOCK_TIMEOUT_S} s (another evaluation is stuck?)") from None


def day_of(moment: datetime) -> str:
    """The quota day of a moment: its UTC date."""
    return moment.astimezone(timezone.utc).date().isoformat()


def used_today(entries: list[Entry], team: str, now: datetime) -> int:
    """Scored submissions of `team` on the UTC day of `now` (failed attempts are free)."""
    today = day_of(now)
    return sum(1 for e in entries if e.team == team and e.scored and day_of(e.time) == today)


def remaining_today(path: Path, team: str, daily_limit: int, now: datetime) -> int:
    """Scored submissions `team` may still make on the UTC day of `now` (never below 0)."""
    return max(0, daily_limit - used_today(read_entries(path), team, now))


def check_quota(path: Path, team: str, daily_limit: int, now: datetime | None = None) -> int:
    """How many submissions `team` has left today; QuotaError when none."""
    now = now or datetime.now(timezone.utc)
    left = remaining_today(path, team, daily_limit, now)
    if left <= 0:
        raise QuotaError(
            f"team {team!r} has used its {daily_limit} submissions for {day_of(now)} (a day is a UTC calendar day); "
            "failed attempts do not count. Try again after 00:00 UTC"
        )
    return left


def append_entry(path: Path, entry: Entry, daily_limit: int | None = None) -> Entry:
    """Append one row under an exclusive lock; returns the row with its id.

    The file is re-read and validated under the lock; with `daily_limit`, the
    quota is enforced there too, so parallel evaluations cannot overshoot it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with locked(path):
            entries = read_entries(path)
            if daily_limit is not None and entry.scored and used_today(entries, entry.team, entry.time) >= daily_limit:
                raise QuotaError(f"team {entry.team!r} has used its {daily_limit} submissions for {day_of(entry.time)} (UTC day)")
            entry = dataclasses.replace(entry, id=max((e.id for e in entries), default=0) + 1)
            if not entries and (not path.exists() or not path.read_text().strip()):
                atomic_write(path, ",".join(COLUMNS) + "\n" + _row(entry))
            elif not _current_header(path):  # an older board: rewritten once with the added columns
                atomic_write(path, ",".join(COLUMNS) + "\n" + "".join(_row(e) for e in [*entries, entry]))
            else:
                with path.open("a", encoding="utf-8", newline="") as f:
                    f.write(_row(entry))
                    f.flush()
                    os.fsync(f.fileno())
    except OSError as e:
        raise LeaderboardError(f"cannot write leaderboard {path}: {e.strerror or e}") from None
    return entry


def rewrite_entries(path: Path, transform) -> tuple[list[Entry], Path]:
    """Rewrite every row with `transform(entries) -> entries` under the lock.

    A backup `<name>.<UTC time>.bak` is written first; returns (new rows, backup).
    """
    path = Path(path)
    try:
        with locked(path):
            entries = read_entries(path)
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            backup = path.with_name(f"{path.name}.{stamp}.bak")
            shutil.copy2(path, backup)
            new_entries = transform(entries)
            atomic_write(path, ",".join(COLUMNS) + "\n" + "".join(_row(e) for e in new_entries))
    except OSError as e:
        raise LeaderboardError(f"cannot rewrite leaderboard {path}: {e.strerror or e}") from None
    return new_entries, backup


def profile_macs(entry: Entry) -> dict[str, int]:
    """The MACs of an entry under each counting profile, as recorded at evaluation."""
    try:
        return {k: int(v) for k, v in json.loads(entry.profile_macs or "{}").items()}
    except ValueError:
        return {}
