"""What every command shares: the consoles, the common options, the one error translation.

Every `HarnessError` becomes one red line on stderr and its exit code, in `guard`
(with `--json`, an `{"error": {kind, message, exit_code}}` object on stdout instead).
Every command names the competition it used: one dim line on stderr, a field in `--json`.
"""
from __future__ import annotations

import contextlib
import functools
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from harness.errors import HarnessError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

LeaderboardOpt = Annotated[Path, typer.Option("--leaderboard", "-l", help="Leaderboard CSV file.")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="TOML file with \\[tool.harness] (default: $HARNESS_CONFIG, else ./pyproject.toml).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]

def guard(fn):
    """Translate the domain exception into a message and an exit code, in one place."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except HarnessError as e:
            if kwargs.get("as_json"):
                print_json({"error": error_json(e)})
            else:
                err.print(Text(f"error: {e.message}", style="bold red"))
            raise typer.Exit(code=e.exit_code) from None
        except KeyboardInterrupt:
            err.print(Text("interrupted", style="red"))
            raise typer.Exit(code=130) from None

    return wrapper


def error_json(e: HarnessError) -> dict:
    """`kind` is the failure class of a worker failure, else the error's kind (config, data, quota, rules...)."""
    kind = getattr(e, "failure", "") or type(e).__name__.removesuffix("Error").lower() or "harness"
    return {"kind": kind, "message": e.message, "exit_code": e.exit_code}


def load_cfg(path: Path | None):
    from harness.config import load_config

    return load_config(path)


def announce_competition(cfg, needs_data: bool = True, show: bool = True) -> str:
    """The competition's identity (name@hash of manifest and answer key), announced in one dim line.

    In a starting kit, the identity it records of the competition it was cut from.
    Without a data set yet (`needs_data=False`), the name alone. With --json (`show=False`)
    it goes only into the JSON's `competition` field.
    """
    from harness.kit import identity_of

    try:
        identity = identity_of(cfg)
    except HarnessError:
        if needs_data:
            raise
        identity = cfg.name
    if show:
        kind = "starting kit of competition" if cfg.kit else "competition"
        err.print(Text(f"{kind} {identity} (config {cfg.source})", style="dim"))
    return identity


def progress_bar(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True, disable=not enabled)


def ensure_data(cfg, show: bool) -> None:
    """Build the default competition on first use, with a spinner (a few seconds)."""
    from harness.data import ensure_dataset, needs_build

    if needs_build(cfg.data_dir, cfg.builder):
        with err.status(f"building the default competition in {cfg.data_dir}", spinner="dots") if show else contextlib.nullcontext():
            ensure_dataset(cfg)


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")

def answer_key(cfg, needed_for: str | None = None, split: str = "test"):
    """The labels a board's rows were scored against: the host's answer key, or the validation
    split's labels (`split="val"`); when they cannot be read, a note (or an error saying what `needed_for` them)."""
    from harness.data import open_split

    try:
        return open_split(cfg, split)[1]
    except HarnessError as e:
        if needed_for:
            raise HarnessError(f"{needed_for}: {e.message}") from None
        err.print(Text(f"note: no confidence intervals ({e.message})", style="yellow"))
        return None

def note_older_rows(count: int, leaderboard: Path, cfg) -> None:
    if count:
        err.print(Text(f"note: {count} row(s) of {leaderboard} predate the competition column; taken as {cfg.name}'s "
                       "(the next append records it)", style="dim"))


def read_board(leaderboard: Path, cfg, identity: str, show: bool = True):
    """The board's rows as every view shows them: this competition's, under the current values.

    Rows stored under other reference values or another profile are rescored in memory
    (`board.on_current_values`), with a note naming `harness rescore`; rows that cannot be
    are named in a warning. Rows scored before an answer-key correction are refused with
    the command that rescores them. Returns (rows, rows predating the competition column).
    """
    from harness.board import on_current_values
    from harness.leaderboard import check_competition, read_entries
    from harness.lineage import ancestors

    entries = read_entries(leaderboard)
    older = check_competition(entries, identity, leaderboard, cfg.source, ancestors(cfg.data_dir) if cfg.data_dir.is_dir() else ())
    current = on_current_values(entries, cfg)
    if show and current.rescored:
        err.print(Text(f"note: {current.rescored} row(s) of {leaderboard} were scored under other reference values or "
                       f"profile; shown rescored under {cfg.config_id} (`harness rescore --leaderboard {leaderboard}` "
                       "writes them)", style="yellow"))
    if show and current.stale:
        err.print(Text(f"warning: {current.stale} row(s) have no MACs counted by the current definition of profile "
                       f"{cfg.profile} and keep their old scores: evaluate those submissions again", style="bold yellow"))
    return current.entries, older
