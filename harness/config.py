"""The competition configuration: one `[tool.harness]` table, validated by key.

The table lives in the project's `pyproject.toml` (or in any TOML file given with
`--config` or `HARNESS_CONFIG`, either as `[tool.harness]` or at top level).
Relative paths are resolved against the file that holds them.

Where from: `--config FILE`, else `$HARNESS_CONFIG`, else `./pyproject.toml` when it
has a `[tool.harness]` table; never a configuration somewhere else. The reference values
(`reference_macs`, `reference_f1`) may be missing in a new competition: only the
commands that score need them, and `harness reference --write` adds them.

Example:
    >>> cfg = load_config(Path("pyproject.toml"))
    >>> cfg.num_classes, cfg.reference.macs > 0
    (9, True)
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, get_args

from harness.errors import ConfigError
from harness.fileio import atomic_write
from harness.sandbox import POLICIES, SandboxPolicy
from harness.scoring import Caps, Metric, Part, Reference, Rule, Scoring, config_id

REPO_ROOT = Path(__file__).resolve().parent.parent
Profile = Literal["2021", "modern"]
PROFILES: tuple[Profile, ...] = get_args(Profile)
PROFILES_VERSION = 2
"""The version of the counting profiles' definitions, recorded in every leaderboard row.

1: "2021" was ptflops 0.7.5's table with Linear without bias. 2: "2021" is ptflops 0.6.4's
table and formulas exactly (see harness.complexity).
"""
PROFILE_CHANGED_IN = {"2021": 2, "modern": 1}
"""The profiles version in which each profile got its current definition."""


@dataclass(frozen=True)
class Limits:
    """Resources one submission's worker may use."""

    timeout_s: float = 600.0
    memory_mb: int = 8192


@dataclass(frozen=True)
class Competition:
    """Everything that defines a competition. Built by `load_config`, never mutated."""

    name: str
    data_dir: Path
    classes: tuple[str, ...]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    reference_path: Path
    pinned_reference: Reference | None
    reference_private_f1: float | None
    profile: Profile
    split_seed: int
    daily_limit: int
    final_picks: int
    bootstrap_resamples: int
    batch_size: int
    builder: str | None
    limits: Limits = field(default_factory=Limits)
    source: Path | None = None
    sandbox: SandboxPolicy = "auto"
    start: datetime | None = None
    end: datetime | None = None
    teams: tuple[str, ...] = ()
    reference_private_macs: int | None = None
    max_submission_mb: int = 50
    rule: Rule = Rule()

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def has_reference(self) -> bool:
        return self.pinned_reference is not None

    @property
    def reference(self) -> Reference:
        """The pinned reference values; a ConfigError naming the key when they are missing."""
        if self.pinned_reference is None:
            where = f" --config {self.source}" if self.source else ""
            raise ConfigError(f"{self.source or '[tool.harness]'}: reference_macs and reference_f1 are missing; "
                              f"run `harness reference --write{where}` to compute and pin them")
        return self.pinned_reference

    @property
    def config_id(self) -> str:
        """A short label of what the scores depend on: profile and reference values (and the budget format)."""
        if self.pinned_reference is None:
            base = f"profile={self.profile} (no reference values yet)"
        else:
            base = config_id(self.profile, self.reference)
        if self.rule.scoring == "2021":
            return base
        caps = "".join(f" {k}={v}" for k, v in self.rule.caps.items())
        return f"scoring=budget metric={self.rule.metric}{caps} {base}"

    def reference_for(self, part: Part) -> Reference:
        """The reference a score on `part` ("public" or "private") is computed against.

        The private part may pin its own reference MACs and F1 (`reference_private_macs`,
        `reference_private_f1`); each defaults to the public one.
        """
        if part == "private":
            macs = self.reference.macs if self.reference_private_macs is None else self.reference_private_macs
            f1 = self.reference.f1 if self.reference_private_f1 is None else self.reference_private_f1
            return Reference(macs, f1)
        return self.reference


def _find_config_file(explicit: Path | None) -> Path:
    if explicit is not None:
        if not Path(explicit).is_file():
            raise ConfigError(f"configuration file not found: {explicit}")
        return Path(explicit)
    env = os.environ.get("HARNESS_CONFIG")
    if env:
        if not Path(env).is_file():
            raise ConfigError(f"HARNESS_CONFIG points to a missing file: {env}")
        return Path(env)
    local = Path("pyproject.toml")
    if local.is_file() and "harness" in _read_toml(local).get("tool", {}):
        return local
    raise ConfigError(
        "no competition configuration: pass --config FILE, set HARNESS_CONFIG, or run where ./pyproject.toml "
        "has a [tool.harness] table (`harness init DIR --from FOLDER` creates one)"
    )


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read configuration {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from None


def _get(table: dict, key: str, kind, default=None, required=False):
    if key not in table:
        if required:
            raise ConfigError(f"[tool.harness] {key}: missing (required)")
        return default
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
        raise ConfigError(f"[tool.harness] {key}: expected {kind.__name__}, got {value!r}")
    return value


def _triple(table: dict, key: str, default) -> tuple[float, float, float]:
    value = table.get(key, default)
    if not isinstance(value, list | tuple) or len(value) not in (1, 3) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        raise ConfigError(f"[tool.harness] {key}: expected a list of 1 or 3 numbers, got {value!r}")
    values = [float(v) for v in value] * (3 if len(value) == 1 else 1)
    return tuple(values)  # type: ignore[return-value]


def _moment(table: dict, key: str) -> datetime | None:
    """An optional UTC time: a TOML datetime or an ISO 8601 string (naive means UTC)."""
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            value = None
    elif not isinstance(value, datetime):
        value = None
    if value is None:
        raise ConfigError(f"[tool.harness] {key}: expected a UTC time such as 2026-12-01T00:00:00Z, got {table[key]!r}")
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _teams(table: dict) -> tuple[str, ...]:
    teams = table.get("teams", [])
    if not isinstance(teams, list) or not all(isinstance(t, str) and t.strip() for t in teams) or len(set(teams)) != len(teams):
        raise ConfigError(f"[tool.harness] teams: expected a list of distinct team names, got {teams!r}")
    return tuple(teams)


KNOWN_KEYS = frozenset({
    "name", "data", "classes", "mean", "std", "reference", "reference_macs", "reference_f1", "reference_private_f1",
    "reference_private_macs", "profile", "split_seed", "daily_limit", "final_picks", "bootstrap_resamples", "batch_size",
    "builder", "timeout_s", "memory_mb", "sandbox", "start", "end", "teams", "scoring", "metric", "max_weights_bytes",
    "max_params", "max_macs", "max_submission_mb",
})
SCORINGS: tuple[Scoring, ...] = ("2021", "budget")
METRICS: tuple[Metric, ...] = ("accuracy", "macro_f1")


def _positive(table: dict, key: str, kind, default):
    value = _get(table, key, kind, default)
    if value is not None and value <= 0:
        raise ConfigError(f"[tool.harness] {key}: must be positive, got {value}")
    return value


def _f1(table: dict, key: str) -> float | None:
    value = _get(table, key, float, None)
    if value is not None and not 0.0 < value <= 1.0:
        raise ConfigError(f"[tool.harness] {key}: must be in (0, 1], got {value}")
    return value


def _choice(table: dict, key: str, choices, default, what: str = "expected one of"):
    value = _get(table, key, str, default)
    if value not in choices:
        raise ConfigError(f"[tool.harness] {key}: {what} {', '.join(c for c in choices if c)}, got {value!r}")
    return value


def _pinned(table: dict) -> Reference | None:
    """The pinned reference values: both or neither (`harness reference --write` pins both)."""
    macs, f1 = _positive(table, "reference_macs", int, None), _f1(table, "reference_f1")
    if (macs is None) != (f1 is None):
        missing, given = ("reference_f1", "reference_macs") if f1 is None else ("reference_macs", "reference_f1")
        raise ConfigError(f"[tool.harness] {missing}: missing (required with {given}); `harness reference --write` pins both")
    return None if macs is None else Reference(macs=macs, f1=f1)


def parse_rule(table: dict) -> Rule:
    """The format: `scoring`, `metric` and the caps; the latter two only mean something under "budget"."""
    scoring = _choice(table, "scoring", SCORINGS, "2021", "unknown scoring format; known:")
    metric = _choice(table, "metric", METRICS, "macro_f1", "unknown metric; known:")
    caps = Caps(**{k: _positive(table, k, int, None) for k in ("max_weights_bytes", "max_params", "max_macs")})
    if scoring == "2021":
        given = [k for k in ("metric", "max_weights_bytes", "max_params", "max_macs") if k in table]
        if given and not (given == ["metric"] and metric == "macro_f1"):
            raise ConfigError(f'[tool.harness] {given[0]}: applies only with scoring = "budget" '
                              '(the 2021 score is MACs and macro-F1 against the reference)')
    return Rule(scoring, metric, caps)


def rule_lines(rule: Rule) -> list[str]:
    """The `[tool.harness]` lines that configure `rule` (none for the default 2021 format).

    >>> rule_lines(Rule("budget", "accuracy", Caps(max_weights_bytes=32_768)))
    ['scoring = "budget"', 'metric = "accuracy"', 'max_weights_bytes = 32768']
    """
    if rule.scoring == "2021":
        return []
    return [f'scoring = "{rule.scoring}"', f'metric = "{rule.metric}"', *(f"{k} = {v}" for k, v in rule.caps.items())]


def parse_config(table: dict, base: Path, source: Path | None = None) -> Competition:
    """Validate a `[tool.harness]` table; raise ConfigError naming the bad key."""
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"[tool.harness] {unknown[0]}: unknown key (known: {', '.join(sorted(KNOWN_KEYS))})")
    classes = _get(table, "classes", list, required=True)
    if len(classes) < 2 or not all(isinstance(c, str) and c for c in classes) or len(set(classes)) != len(classes):
        raise ConfigError("[tool.harness] classes: expected at least two distinct non-empty names")
    std = _triple(table, "std", [1.0])
    if any(s <= 0 for s in std):
        raise ConfigError(f"[tool.harness] std: every value must be positive, got {list(std)}")
    start, end = _moment(table, "start"), _moment(table, "end")
    if start and end and end <= start:
        raise ConfigError(f"[tool.harness] end: {end.isoformat()} is not after start {start.isoformat()}")
    return Competition(
        name=_get(table, "name", str, "competition"),
        data_dir=(base / _get(table, "data", str, "data")).resolve(),
        classes=tuple(classes),
        mean=_triple(table, "mean", [0.0]),
        std=std,
        reference_path=(base / _get(table, "reference", str, required=True)).resolve(),
        pinned_reference=_pinned(table),
        reference_private_f1=_f1(table, "reference_private_f1"),
        profile=_choice(table, "profile", PROFILES, "2021", "unknown counting profile; known:"),
        split_seed=_get(table, "split_seed", int, 0),
        daily_limit=_positive(table, "daily_limit", int, 10),
        final_picks=_positive(table, "final_picks", int, 2),
        bootstrap_resamples=_positive(table, "bootstrap_resamples", int, 1000),
        batch_size=_positive(table, "batch_size", int, 64),
        builder=_choice(table, "builder", (None, "mnist"), None, "unknown builder; known:"),
        limits=Limits(timeout_s=_positive(table, "timeout_s", float, 600.0), memory_mb=_positive(table, "memory_mb", int, 8192)),
        source=source,
        sandbox=_choice(table, "sandbox", POLICIES, "auto"),
        start=start,
        end=end,
        teams=_teams(table),
        reference_private_macs=_positive(table, "reference_private_macs", int, None),
        max_submission_mb=_positive(table, "max_submission_mb", int, 50),
        rule=parse_rule(table),
    )


def load_config(path: Path | None = None) -> Competition:
    """Load the competition configuration (see module docstring for where from)."""
    file = _find_config_file(path)
    doc = _read_toml(file)
    table = doc.get("tool", {}).get("harness")
    if table is None:
        table = doc if "classes" in doc else None
    if table is None:
        raise ConfigError(f"{file}: no [tool.harness] table")
    return parse_config(table, file.resolve().parent, source=file.resolve())


def _insert_after_table(text: str, lines: list[str]) -> str:
    """Add `key = value` lines at the end of the [tool.harness] table (or of a top-level table)."""
    header = re.search(r"^\[tool\.harness\]\s*$", text, re.MULTILINE)
    if header is None:
        first_table = re.search(r"^\[", text, re.MULTILINE)  # top-level keys end where the first table starts
        at = first_table.start() if first_table else len(text)
    else:
        following = re.search(r"^\[", text[header.end():], re.MULTILINE)
        at = header.end() + following.start() if following else len(text)
    head, tail = text[:at], text[at:]
    body = head.rstrip("\n") + "\n" + "".join(f"{line}\n" for line in lines)
    return body + ("\n" + tail if tail else "")


def write_reference(cfg: Competition, macs: int, public_f1: float, private_f1: float) -> Path:
    """Pin new reference values in the configuration file, keeping everything else.

    Existing `reference_*` lines are replaced; missing ones are added to the table.
    """
    if cfg.source is None:
        raise ConfigError("the configuration has no file to write to")
    if macs <= 0 or public_f1 <= 0 or private_f1 <= 0:
        raise ConfigError(f"{cfg.reference_path}: the reference scores MACs {macs:,}, macro-F1 {public_f1:.4f} public and "
                          f"{private_f1:.4f} private; a reference needs positive values (better weights?); nothing was written")
    text = cfg.source.read_text(encoding="utf-8")
    missing = []
    for key, value in (("reference_macs", str(macs)), ("reference_f1", f"{public_f1:.6f}"), ("reference_private_f1", f"{private_f1:.6f}")):
        pattern = re.compile(rf"^{key}\s*=.*$", re.MULTILINE)
        if pattern.search(text):
            text = pattern.sub(f"{key} = {value}", text, count=1)
        else:
            missing.append(f"{key} = {value}")
    if missing:
        text = _insert_after_table(text, missing)
    private_macs = re.compile(r"^reference_private_macs\s*=.*$", re.MULTILINE)
    text = private_macs.sub(f"reference_private_macs = {macs}", text, count=1)  # rewritten when present, never added
    atomic_write(cfg.source, text)
    return cfg.source
