"""The competition's rules: when submissions are open, who may submit, when the private board shows.

`start`, `end` and `teams` come from the configuration; each check raises a
`RulesError` with one line saying what to do. `declared_team` reads a submission's
`TEAM = "..."` without importing it, so the quota is checked before any of its code runs.

Usage:
    check_team(cfg, "teamm4")          # with teams = ["team4", "team7"] in the configuration
    # -> RulesError: team 'teamm4' is not registered for mnist9; did you mean 'team4'? ...
"""
from __future__ import annotations

import ast
import difflib
import threading
from datetime import datetime
from pathlib import Path

from harness.config import Competition
from harness.errors import RulesError, SubmissionError

_PARSE = threading.Lock()
"""ast.parse is not thread-safe in CPython 3.11 (gh-106905: "AST constructor recursion depth mismatch")."""


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def check_window(cfg: Competition, now: datetime) -> None:
    """Refuse a submission before `start` or after `end`, with the times."""
    if cfg.start is not None and now < cfg.start:
        raise RulesError(f"{cfg.name} opens at {_utc(cfg.start)}; it is {_utc(now)} (start in {cfg.source})")
    if cfg.end is not None and now >= cfg.end:
        raise RulesError(f"{cfg.name} closed at {_utc(cfg.end)}; it is {_utc(now)}: no more submissions (end in {cfg.source})")


def check_reveal(cfg: Competition, now: datetime, reveal: bool) -> None:
    """The private board is shown after `end`, or earlier to the host with `--reveal`."""
    if cfg.end is not None and now < cfg.end and not reveal:
        raise RulesError(f"the private board of {cfg.name} is revealed after {_utc(cfg.end)} (end in {cfg.source}); "
                         "the host can show it now with --reveal")


def check_team(cfg: Competition, team: str) -> None:
    """With registered `teams`, refuse any other name and suggest the closest one."""
    if not cfg.teams or team in cfg.teams:
        return
    close = difflib.get_close_matches(team, cfg.teams, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise RulesError(f"team {team!r} is not registered for {cfg.name}; {hint}registered: {', '.join(cfg.teams)} (teams in {cfg.source})")


def declared_team(path: Path) -> str | None:
    """The team a submission file names, read without importing it.

    `TEAM = "name"` at module level gives "name"; no assignment to TEAM at all gives
    the file's stem (the default); anything computed gives None. A file too deeply
    nested to parse is a SubmissionError (one line, never a RecursionError).

    >>> declared_team(Path("submissions/team4.py"))
    'team4'
    """
    path = Path(path)
    try:
        with _PARSE:  # evaluate --jobs parses in threads
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (RecursionError, MemoryError):
        raise SubmissionError(f"{path.name}: refused: its code is nested too deeply to be parsed") from None
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
        return path.stem  # the default: the import reports the problem properly
    assigned = [node for node in ast.walk(tree) if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign))
                and any(isinstance(t, ast.Name) and t.id == "TEAM" for t in getattr(node, "targets", [getattr(node, "target", None)]))]
    if not assigned:
        return path.stem
    top = [node for node in tree.body if node in assigned]
    if len(assigned) == 1 and len(top) == 1 and isinstance(top[0].value, ast.Constant) and isinstance(top[0].value.value, str):
        return top[0].value.value.strip() or None
    return None


def submission_team(path: Path, team: str | None) -> str:
    """The team a row is filed under, fixed before any submission code runs.

    `--team`, else a literal `TEAM = "..."` in the (staged) file, else its stem; a TEAM
    computed by code is refused, since only the file's own process could know it.
    """
    if team and team.strip():
        return team.strip()
    declared = declared_team(path)
    if declared is None:
        raise SubmissionError(f'{Path(path).name}: TEAM must be one literal string at module level (TEAM = "name"), '
                              "or pass --team; the harness files the entry before any of its code runs")
    return declared
