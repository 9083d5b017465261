"""`harness`: a thin typer CLI over the library. Parse, call, render; no logic here.

Shared options, consoles and the one translation of `HarnessError` into a message and
an exit code live in `harness.cli_common`; the data commands in `harness.cli_data`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from harness.cli_common import (
    ConfigOpt, JsonOpt, LeaderboardOpt, announce_competition, answer_key, ensure_data, err, error_json, guard, load_cfg,
    note_older_rows, out, print_json, progress_bar,
)
from harness.cli_data import data_app, init_cmd
from harness.errors import HarnessError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="A local harness for model-compression competitions.")


def _evaluation_json(result, cfg) -> dict:
    e = result.entry
    return {
        "competition": e.competition, "id": e.id, "team": e.team, "submission": e.submission, "macs": e.macs, "params": e.params,
        "f1": e.public_f1, "score": e.public_score, "macs_term": result.scores.public.macs_term,
        "f1_term": result.scores.public.f1_term, "reference_macs": e.ref_macs, "reference_f1": e.ref_f1,
        "profile": e.profile, "input_size": e.input_size, "remaining_today": result.remaining_today,
        "sandbox": result.sandbox, "sandboxed": result.sandbox == "bwrap", "seconds_per_image": result.report.seconds_per_image,
        "notes": list(result.report.notes),
    } | ({} if cfg.rule.scoring == "2021" else {**cfg.rule.to_dict(), cfg.rule.metric: e.public_score, "stored_bytes": e.stored_bytes})


@app.command()
@guard
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
    from harness.evaluate import evaluate_many, evaluate_submission
    from harness.render import evaluation_panel

    cfg = load_cfg(config)
    ensure_data(cfg, not as_json)
    announce_competition(cfg, show=not as_json)
    if len(paths) > 1 and team:
        raise HarnessError("--team applies to one submission; set TEAM in each file instead")
    if len(paths) == 1:
        with progress_bar(not as_json) as progress:
            task = progress.add_task(f"evaluating {paths[0].name}", total=None)
            result = evaluate_submission(paths[0], cfg, leaderboard, team, device,
                                         on_progress=lambda done, total: progress.update(task, completed=done, total=total))
        if as_json:
            print_json(_evaluation_json(result, cfg))
        else:
            out.print(evaluation_panel(result, cfg))
        return
    failures = []
    for path, result, error in evaluate_many(paths, cfg, leaderboard, device, jobs):
        if error is not None:
            failures.append(error)
            if as_json:
                print_json({"submission": str(path), "error": error_json(error)})
            else:
                err.print(Text(f"error: {path}: {error.message}", style="bold red"))
        elif as_json:
            print_json(_evaluation_json(result, cfg))
        else:
            out.print(evaluation_panel(result, cfg))
    if failures:
        raise typer.Exit(code=failures[0].exit_code)


@app.command()
@guard
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
    from harness.sandbox import resolve_mode

    cfg = load_cfg(config)
    ensure_data(cfg, not as_json)
    identity = announce_competition(cfg, show=not as_json)
    try:
        with progress_bar(not as_json) as progress:
            task = progress.add_task(f"checking {path.name}", total=None)
            result = check_submission(path, cfg, device, on_progress=lambda d, t: progress.update(task, completed=d, total=t))
    except WorkerError as e:
        failed = e.stage if e.stage in ("contract", "weights_load", "transform") else "output"
        if as_json:
            print_json({"competition": identity, "passed": False, "macs": None, "params": None, "violations": [],
                         "checks": {failed: False}, "failure": e.failure, "error": {**error_json(e), "exit_code": 1},
                         "sandbox": resolve_mode(cfg.sandbox)})
            raise typer.Exit(code=1) from None
        raise
    report, passed = result.report, result.passed
    if as_json:
        print_json({"competition": identity, **result.to_dict(cfg)})
    else:
        out.print(check_report(report, cfg, passed, layers, result.sandbox, result.caps))
    if not passed:
        raise typer.Exit(code=1)


@app.command("leaderboard")
@guard
def leaderboard_cmd(
    leaderboard: LeaderboardOpt = Path("leaderboard.csv"),
    as_json: JsonOpt = False,
    private: Annotated[bool, typer.Option("--private", help="Reveal the final (private) standings and the shake-up (after `end`).")] = False,
    reveal: Annotated[bool, typer.Option("--reveal", help="Host only: show the private board before the configured `end`.")] = False,
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
    from datetime import datetime, timezone

    from harness import board as board_mod
    from harness.leaderboard import check_competition, read_entries
    from harness.render import attempts_table, board_table
    from harness.rules import check_reveal

    cfg = load_cfg(config)
    if private:
        check_reveal(cfg, datetime.now(timezone.utc), reveal)
    ensure_data(cfg, not as_json)
    identity = announce_competition(cfg, show=not as_json)
    entries = read_entries(leaderboard)
    older = check_competition(entries, identity, leaderboard, cfg.source)
    if not as_json:
        note_older_rows(older, leaderboard, cfg)
    if show_all and html is not None:
        raise HarnessError("--html publishes the ranked board: leave out --all")
    if show_all:
        if as_json:
            print_json({"competition": identity, "attempts": [e.to_dict(private) for e in entries]})
        else:
            out.print(attempts_table(entries, private))
        return
    key = answer_key(cfg)
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
    meta = {"competition": identity, "board": "private" if private else "public", "resamples": cfg.bootstrap_resamples,
            "confidence": board_mod.CONFIDENCE, "config": cfg.config_id, "row_configs": configs, "intervals": key is not None}
    meta |= cfg.rule.to_dict()
    if as_json:
        extra = (lambda s: {}) if cfg.rule.scoring == "2021" else (lambda s: {cfg.rule.metric: s.score})
        print_json({**meta, "rows": [s.to_dict(private) | extra(s) for s in standings]})
    elif not standings:
        out.print(f"no scored submissions in {leaderboard} yet: `harness evaluate FILE --leaderboard {leaderboard}` adds one")
    else:
        out.print(board_table(standings, private, meta, width=out.width))
        for what, path in (("plot", plot), ("page", html)):
            if path is not None:
                out.print(f"{what} written to {path}")


@app.command()
@guard
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
    from harness.rules import check_team

    cfg = load_cfg(config)
    identity = announce_competition(cfg)
    check_team(cfg, team)
    chosen = select_final(leaderboard, team, ids, cfg.final_picks, identity)
    out.print(f"{team}: final selection {chosen}")


@app.command("history")
@guard
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
    from harness.leaderboard import check_competition, read_entries
    from harness.render import history_table

    cfg = load_cfg(config)
    identity = announce_competition(cfg, show=not as_json)
    entries = read_entries(leaderboard)
    check_competition(entries, identity, leaderboard, cfg.source)
    rows = history(entries, team, cfg.rule)
    if not rows:
        raise HarnessError(f"no submissions by team {team!r} in {leaderboard}")
    if plot is not None:
        from harness.forecast import forecast_by_day
        from harness.plots import plot_history

        key = answer_key(cfg)
        timeline = forecast_by_day(entries, read_picks(leaderboard), cfg, key, team) if key is not None else None
        label = "public score (lower is better)" if cfg.rule.scoring == "2021" else f"public {cfg.rule.metric} (higher is better)"
        plot_history(rows, team, plot, timeline, label)
    if as_json:
        print_json({"competition": identity, "team": team, "rows": rows})
    else:
        out.print(history_table(rows, team, cfg.rule.score_name))
        if plot is not None:
            out.print(f"plot written to {plot}")


@app.command("forecast")
@guard
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
    from harness.leaderboard import check_competition, read_entries
    from harness.render import backtest_report, forecast_table

    if backtest and (team or plot):
        raise HarnessError("--backtest measures the whole board: leave out --team and --plot")
    cfg = load_cfg(config)
    entries = read_entries(leaderboard)
    ensure_data(cfg, not as_json)
    identity = announce_competition(cfg, show=not as_json)
    check_competition(entries, identity, leaderboard, cfg.source)
    key = answer_key(cfg, needed_for="the forecast needs the labels of the public images")
    picks = read_picks(leaderboard)
    if backtest:
        result = forecast_mod.backtest(entries, picks, cfg, key, splits, draws, seed)
        if as_json:
            print_json({"competition": identity, **cfg.rule.to_dict(), **result.to_dict()})
        else:
            out.print(backtest_report(result))
        return
    result = forecast_mod.forecast_board(entries, picks, cfg, key, draws, seed)
    payload = result.to_dict(team)  # checks --team before anything is written
    if plot is not None:
        from harness.plots import plot_rank_probabilities

        plot_rank_probabilities(result, plot)
    if as_json:
        print_json({"competition": identity, **cfg.rule.to_dict(), **payload})
    else:
        out.print(forecast_table(result, team))
        if plot is not None:
            out.print(f"plot written to {plot}")


@app.command("rescore")
@guard
def rescore_cmd(leaderboard: LeaderboardOpt = Path("leaderboard.csv"), config: ConfigOpt = None):
    """Recompute every score under the current reference values and counting profile.

    The original values stay in the `original_*` columns and a backup is written first.

    Example:
        harness rescore --leaderboard leaderboard.csv
    """
    from harness.board import rescore
    from harness.config import PROFILE_CHANGED_IN

    cfg = load_cfg(config)
    needs_key = cfg.rule.scoring == "budget" and cfg.rule.metric == "accuracy"
    key = answer_key(cfg, f"rescoring by {cfg.rule.metric}") if needs_key else None
    result = rescore(leaderboard, cfg, announce_competition(cfg), key)
    out.print(f"rescored {result.done} row(s) under {cfg.config_id}; backup: {result.backup}")
    if result.over_budget:
        err.print(Text(f"note: {result.over_budget} row(s) are over a cap and are now failed over_budget rows", style="yellow"))
    if result.missing:
        err.print(Text(f"note: {result.missing} row(s) lack MACs for profile {cfg.profile} and were left as they were", style="yellow"))
    if result.outdated:
        err.print(Text(f"warning: {result.outdated} row(s) were counted by an older definition of profile {cfg.profile} "
                       f"(profiles version < {PROFILE_CHANGED_IN[cfg.profile]}) and were left as they were, not mixed in: "
                       "evaluate their submissions again to count them under the current one", style="bold yellow"))


@app.command()
@guard
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
    from harness.render import reference_table

    cfg = load_cfg(config)
    ensure_data(cfg, True)
    announce_competition(cfg)
    result = recompute_reference(cfg, device)
    pinned = cfg.pinned_reference
    table = reference_table(result, cfg)
    out.print(table)
    if write:
        path = write_reference(cfg, result.macs, result.public_f1, result.private_f1)
        out.print(f"pinned in {path}")
    elif pinned is None:
        err.print(Text(f"{cfg.source}: no reference values pinned yet (run `harness reference --write` to add them)", style="yellow"))
        raise typer.Exit(code=1)
    elif result.drift:
        err.print(Text("drift: the pinned values differ from the recomputed ones (run with --write to pin them)", style="yellow"))
        raise typer.Exit(code=1)
    else:
        out.print("no drift")


app.add_typer(data_app, name="data")
app.command("init")(init_cmd)
