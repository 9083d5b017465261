"""PNG plots with matplotlib (Agg): the MACs/F1 plane, a team's score over time, the forecast's heat map.

800 x 600 pixels (8 x 6 inches at 100 dpi); the heat map grows with the number of teams.
Each writes to a path or to a binary file object (the HTML page embeds them).

Usage:
    plot_board(read_entries(Path("leaderboard.csv")), cfg, Path("board.png"))
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np

from harness.errors import HarnessError
from harness.scoring import total

SIZE_IN, DPI = (8, 6), 100


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points not beaten on both fewer MACs and higher F1, by MACs.

    >>> pareto_front([(1, 0.5), (2, 0.9), (3, 0.8)])
    [0, 1]
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best_f1 = [], -np.inf
    for i in order:
        if points[i][1] > best_f1:
            front.append(i)
            best_f1 = points[i][1]
    return front


def _save(fig, path: Path | BinaryIO) -> None:
    try:
        fig.savefig(path, dpi=DPI)
    except OSError as e:
        raise HarnessError(f"cannot write plot {path}: {e.strerror or e}") from None
    finally:
        _pyplot().close(fig)


def contour_levels(scores: list[float], count: int = 6) -> list[float]:
    """Iso-score levels spanning the teams' scores (and the reference's 1.0), at round values.

    >>> contour_levels([0.05, 0.12, 0.2])
    [0.05, 0.1, 0.15, 0.2, 0.25]
    """
    low, high = min(scores), max(scores)
    span = max(high - low, 1e-3)
    raw = span / count
    step = min((m * 10.0 ** e for e in range(-4, 3) for m in (1, 2, 2.5, 5) if m * 10.0 ** e >= raw), default=raw)
    start = np.floor(low / step) * step
    levels = np.round(np.arange(start, high + step * 1.01, step), 6)
    return [float(v) for v in levels]


def plot_board(entries, cfg, path: Path | BinaryIO, part: str = "public") -> Path | BinaryIO:
    """Every scored row on MACs (log) x F1, iso-score contours, reference and Pareto front.

    Contours span the teams' scores; they are drawn only where F1 >= 0.5, since below it
    the F1 term is a flat 1.0 (the region is shaded instead). Each team's best row is
    labelled on the plot. Under scoring = "budget", `plot_budget` draws the board instead.
    """
    if cfg.rule.scoring == "budget":
        return plot_budget(entries, cfg, path, part)
    plt = _pyplot()
    rows = [e for e in entries if e.scored]
    fig, ax = plt.subplots(figsize=SIZE_IN)
    ref = cfg.reference
    macs_all = [e.macs for e in rows] + [ref.macs]
    lo, hi = min(macs_all) / 3, max(macs_all) * 3
    f1_low = max(0.0, min([0.45] + [e.f1(part) - 0.05 for e in rows]))
    grid_m = np.logspace(np.log10(lo), np.log10(hi), 300)
    grid_f = np.linspace(0.5, 1.0, 300)
    mm, ff = np.meshgrid(grid_m, grid_f)
    zz = total(mm, ff, ref)
    scores = [e.score(part) for e in rows if e.f1(part) >= 0.5] + [1.0]
    contours = ax.contour(mm, ff, zz, levels=contour_levels(scores), colors="grey", linewidths=0.7)
    ax.clabel(contours, fmt="score %.2f", fontsize=7, inline=True)
    ax.axhspan(f1_low, 0.5, color="0.92", zorder=0)
    ax.text(lo * 1.1, (f1_low + 0.5) / 2, "F1 < 0.5: F1 term 1.0, score = MACs term + 1", fontsize=7, color="0.4", va="center")
    teams = sorted({e.team for e in rows})
    colours = plt.get_cmap("tab10")
    crowded: dict[tuple[int, int], int] = {}  # labels of points at (nearly) the same place are stacked
    for i, team in enumerate(teams):
        mine = [e for e in rows if e.team == team]
        ax.scatter([e.macs for e in mine], [e.f1(part) for e in mine], label=team, color=colours(i % 10), s=30, zorder=3)
        best = min(mine, key=lambda e: e.score(part))
        spot = (round(np.log10(best.macs) * 20), round(best.f1(part) * 60))
        crowded[spot] = crowded.get(spot, -1) + 1
        ax.annotate(team, (best.macs, best.f1(part)), xytext=(5, 4 + 10 * crowded[spot]), textcoords="offset points",
                    fontsize=8, color=colours(i % 10), zorder=5)
    points = [(e.macs, e.f1(part)) for e in rows]
    front = pareto_front(points)
    if front:
        ax.plot([points[i][0] for i in front], [points[i][1] for i in front], color="crimson", lw=1.5, zorder=2, label="Pareto front")
    ax.scatter([ref.macs], [ref.f1], marker="*", s=200, color="black", zorder=4, label="reference")
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(f1_low, 1.0)
    ax.set_xlabel("MACs (ptflops, log scale)")
    ax.set_ylabel(f"macro-F1 ({part})")
    ax.set_title(f"{cfg.name}: {part} board, lower score is better")
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, path)
    return path


def plot_history(rows: list[dict], team: str, path: Path, p_top3: list[tuple[datetime, float]] | None = None,
                 score_label: str = "public score (lower is better)") -> Path:
    """A team's public score per submission over time, and its best so far.

    With `p_top3` (from `forecast.forecast_by_day`), a second panel shows the team's
    forecast chance of a final top-3 rank at each day's end.
    """
    plt = _pyplot()
    scored = [r for r in rows if r["score"] is not None]
    if p_top3:
        fig, (ax, low) = plt.subplots(2, 1, figsize=SIZE_IN, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
        low.step([t for t, _ in p_top3], [p for _, p in p_top3], "o-", where="post", color="darkgreen")
        low.set_ylim(-0.05, 1.05)
        low.set_ylabel("P(final top 3)")
        low.set_xlabel("time (UTC); forecast on the board at each day's end")
    else:
        fig, ax = plt.subplots(figsize=SIZE_IN)
        ax.set_xlabel("time (UTC)")
    times = [datetime.fromisoformat(r["time_utc"]) for r in scored]
    ax.plot(times, [r["score"] for r in scored], "o", label="submission")
    ax.step(times, [r["best_so_far"] for r in scored], where="post", label="best so far")
    ax.axhline(1.0, color="grey", ls="--", lw=0.8, label="reference (1.0)")
    ax.set_ylabel(score_label)
    ax.set_title(f"history of {team}")
    ax.legend()
    fig.autofmt_xdate()
    _save(fig, path)
    return path


def plot_rank_probabilities(forecast, path: Path | BinaryIO) -> Path | BinaryIO:
    """Teams (by public rank) x final ranks, coloured by P(final rank = k); each public rank outlined."""
    plt = _pyplot()
    teams = forecast.teams
    n = len(teams)
    matrix = np.array([t.rank_probabilities for t in teams])
    fig, ax = plt.subplots(figsize=(max(SIZE_IN[0], 0.45 * n + 3), max(SIZE_IN[1], 0.3 * n + 1.5)))
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    fig.colorbar(image, ax=ax, label="P(final rank = k)")
    if n <= 20:
        for i in range(n):
            for k in range(n):
                if matrix[i, k] >= 0.005:
                    ax.text(k, i, f"{matrix[i, k]:.0%}", ha="center", va="center", fontsize=7,
                            color="white" if matrix[i, k] > 0.6 else "black")
    for i, t in enumerate(teams):
        ax.add_patch(plt.Rectangle((t.public_rank - 1.5, i - 0.5), 1, 1, fill=False, edgecolor="crimson", lw=1.2))
    ax.set_xticks(range(n), [str(k) for k in range(1, n + 1)])
    ax.set_yticks(range(n), [f"{t.public_rank}. {t.team}" for t in teams])
    ax.set_xlabel("final (private) rank")
    ax.set_ylabel("team, by public rank (outlined: its public rank)")
    ax.set_title(f"shake-up forecast: {forecast.draws} draws from the public images")
    fig.tight_layout()
    _save(fig, path)
    return path


BUDGET_AXES = (("max_weights_bytes", "stored_bytes", "stored bytes (the .py and its same-stem files, log scale)"),
               ("max_params", "params", "parameters (log scale)"), ("max_macs", "macs", "MACs (ptflops, log scale)"))
"""Under "budget", the plot's x axis: the first configured cap's quantity (stored bytes when none is)."""


def plot_budget(entries, cfg, path: Path | BinaryIO, part: str = "public") -> Path | BinaryIO:
    """The budget board: each row's size (bytes, parameters or MACs: the capped one) against its metric.

    The cap is a vertical line (over it nothing is scored); the Pareto front joins the rows
    no other row beats on both a smaller size and a higher metric.
    """
    from harness.board import ranked

    plt = _pyplot()
    cap_key, column, label = next((a for a in BUDGET_AXES if getattr(cfg.rule.caps, a[0]) is not None), BUDGET_AXES[0])
    rows = [e for e in entries if ranked(e, cfg.rule) and getattr(e, column)]
    fig, ax = plt.subplots(figsize=SIZE_IN)
    colours = plt.get_cmap("tab10")
    for i, team in enumerate(sorted({e.team for e in rows})):
        mine = [e for e in rows if e.team == team]
        ax.scatter([getattr(e, column) for e in mine], [e.score(part) for e in mine], label=team, color=colours(i % 10), s=30, zorder=3)
        best = max(mine, key=lambda e: e.score(part))
        ax.annotate(team, (getattr(best, column), best.score(part)), xytext=(5, 4), textcoords="offset points", fontsize=8,
                    color=colours(i % 10), zorder=5)
    points = [(getattr(e, column), e.score(part)) for e in rows]
    front = pareto_front(points)
    if front:
        ax.plot([points[i][0] for i in front], [points[i][1] for i in front], color="crimson", lw=1.5, zorder=2, label="Pareto front")
    limit = getattr(cfg.rule.caps, cap_key)
    if limit is not None:
        ax.axvline(limit, color="black", ls="--", lw=1.2, label=f"cap {cap_key} = {limit:,}")
    sizes = [x for x, _ in points] + ([limit] if limit is not None else [])
    ax.set_xscale("log")
    ax.set_xlim(min(sizes) / 1.5, max(sizes) * 1.5)
    ax.set_xlabel(label)
    ax.set_ylabel(f"{cfg.rule.metric} ({part})")
    ax.set_title(f"{cfg.name}: {part} board, higher {cfg.rule.metric} is better, within every cap")
    ax.legend(loc="best", fontsize=8)
    _save(fig, path)
    return path
