"""Rich renderables for every view; returned, never printed. Plots with matplotlib.

Usage:
    from rich.console import Console
    Console().print(evaluation_panel(result, cfg))
"""
from __future__ import annotations

from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from harness.config import Competition
from harness.report import ModelReport
from harness.scoring import macs_term


def _fmt_int(n) -> str:
    return "-" if n is None else f"{int(n):,}"


def _fmt(x, digits=4) -> str:
    """A fixed-point number without a negative zero: -0.00001 shows as 0.0000.

    >>> _fmt(-0.00001), _fmt(-0.5), _fmt(None)
    ('0.0000', '-0.5000', '-')
    """
    if x is None:
        return "-"
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def evaluation_panel(result, cfg: Competition) -> Panel:
    """The scored submission next to the reference: MACs, F1 and each score term."""
    e, s = result.entry, result.scores
    table = Table(show_header=True, header_style="bold", box=None)
    table.add_column("")
    table.add_column("submission", justify="right")
    table.add_column("reference", justify="right")
    table.add_row("MACs", _fmt_int(e.macs), _fmt_int(cfg.reference.macs))
    table.add_row("params", _fmt_int(e.params), "")
    table.add_row("macro-F1 (public)", _fmt(s.public_f1), _fmt(cfg.reference.f1))
    if cfg.rule.scoring == "budget":
        table.add_row("stored bytes", _fmt_int(e.stored_bytes), "")
        table.add_row(Text(f"{cfg.rule.metric} (public, higher is better)", style="bold"), Text(_fmt(s.public_score), style="bold green"), "")
    else:
        table.add_row("MACs term", _fmt(s.public.macs_term), "1.0000")
        table.add_row("F1 term (public)", _fmt(s.public.f1_term), "0.0000")
        table.add_row(Text("score (public)", style="bold"), Text(_fmt(s.public.total), style="bold green" if s.public.total < 1 else "bold"), "1.0000")
    notes = [f"row {e.id} appended; {result.remaining_today} submission(s) left today for {e.team} (UTC day)"]
    if result.sandbox == "none":
        notes.append(UNSANDBOXED)
    notes += list(result.report.notes)
    return Panel(Group(table, Text("\n".join(notes), style="dim")), title=f"{e.team}: {e.submission}", subtitle=cfg.config_id)


UNSANDBOXED = "NO sandbox: install bubblewrap, or submissions can read this machine"


def check_report(report: ModelReport, cfg: Competition, passed: bool, layers: bool = False, sandbox: str = "bwrap",
                 caps=()) -> Group:
    """One line per check, the violations, the MACs and the projected MACs term, each cap with its headroom."""
    parts = []
    table = Table(show_header=False, box=None)
    for name, ok in report.checks.items():
        reason = report.check_reasons.get(name, "")
        if name == "verifier" and not ok:
            reason = f"{len(report.violations)} violation(s), below"
        table.add_row(Text("pass", style="green") if ok else Text("FAIL", style="bold red"), name, reason)
    table.add_row(Text("info", style="cyan"), "seconds per image", f"{report.seconds_per_image * 1000:.3f} ms")
    table.add_row(Text("info", style="cyan"), "sandbox", "bubblewrap" if sandbox == "bwrap" else Text(UNSANDBOXED, style="yellow"))
    parts.append(table)
    for v in report.violations:
        macs = f" [{v.uncounted_macs:,} uncounted MACs]" if v.uncounted_macs else ""
        parts.append(Text(f"  x {v}{macs}", style="red"))
    summary = Table(show_header=False, box=None)
    summary.add_row("MACs (scored, profile " + report.profile + ")", _fmt_int(report.macs))
    if cfg.rule.scoring == "2021":
        summary.add_row("projected MACs term", _fmt(macs_term(report.macs, cfg.reference_for("public"))) if cfg.has_reference
                        else "- (no reference values yet: `harness reference --write`)")
    for profile, macs in report.profile_macs.items():
        if profile != report.profile:
            summary.add_row(f"MACs under the {profile} profile", _fmt_int(macs))
    ratio = report.aten_macs / report.macs if report.macs else 0
    summary.add_row("MACs at the aten level", f"{report.aten_macs:,} ({ratio:.2f}x the scored count)")
    summary.add_row("params", _fmt_int(report.params))
    summary.add_row("weights file", f"{report.weights_bytes / 1024:.1f} KiB")
    summary.add_row("zero weights", f"{report.sparsity:.1%}")
    parts.append(summary)
    if caps:
        budget = Table(title=f"budget (scoring = budget, metric = {cfg.rule.metric})", title_justify="left")
        for col in ("cap", "limit", "submission", "headroom"):
            budget.add_column(col, justify="left" if col == "cap" else "right")
        for c in caps:
            budget.add_row(c.key, f"{c.limit:,}", f"{c.value:,}", Text(f"{c.headroom:,}", style="green" if c.within else "bold red"))
        parts.append(budget)
    for note in report.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    if layers:
        parts.append(layer_table(report))
    verdict = Text("would be accepted" if passed else "would be REJECTED", style="bold green" if passed else "bold red")
    parts.append(verdict)
    return Group(*parts)


def layer_table(report: ModelReport) -> Table:
    """Per counted layer: path, type, output shape, MACs and share of the total."""
    table = Table(title="counted layers (batch size 1)")
    for col in ("module", "type", "output", "calls", "MACs", "share"):
        table.add_column(col, justify="right" if col in ("calls", "MACs", "share") else "left")
    total = max(report.macs, 1)
    for row in report.layers:
        table.add_row(row.module, row.module_type, "x".join(map(str, row.output_shape)), str(row.calls), f"{row.macs:,}", f"{row.macs / total:.1%}")
    return table


BOARD_DROP_ORDER = ("subs", "id", "tie", "public #", "MACs", "95% CI", "F1", "change")
"""Columns a narrow terminal loses first; the rank, the team and the score always stay."""


def _fit(columns: dict[str, list[str]], width: int | None, team_min: int) -> list[str]:
    """The columns that fit in `width` characters, dropping by BOARD_DROP_ORDER."""
    kept = list(columns)

    def needed() -> int:  # SIMPLE_HEAVY: one space of padding each side of a cell, a separator between columns and at each edge
        return sum(max(len(c), team_min if c == "team" else 0, *(len(v) for v in columns[c])) + 2 for c in kept) + len(kept) + 1

    for name in BOARD_DROP_ORDER:
        if width is None or needed() <= width:
            break
        if name in kept:
            kept.remove(name)
    return kept


def board_table(standings, private: bool, meta: dict, width: int | None = None) -> Table:
    """The ranked board; private boards show public rank, private rank and the change.

    With `width`, the least useful columns are dropped until it fits (BOARD_DROP_ORDER).
    """
    title = "private board (final standings)" if private else "public board"
    scores_under = f"scores under {', '.join(meta['row_configs']) or meta['config']}"
    caption = (f"95% intervals from {meta['resamples']} seeded bootstrap resamples of the {meta['board']} images; {scores_under}"
               if meta.get("intervals", True) else f"no confidence intervals (no answer key); {scores_under}")
    cells: dict[str, list] = {name: [] for name in ["#", "tie", "team", "id", "MACs", "F1", "score", "95% CI", "subs"]
                              + (["public #", "change"] if private else [])}
    for s in standings:
        values = {"#": str(s.rank), "tie": str(s.tie_group or "-"), "team": s.team, "id": str(s.entry_id), "MACs": _fmt_int(s.macs),
                  "F1": _fmt(s.f1), "score": _fmt(s.score), "95% CI": "-" if s.ci_low is None else f"{s.ci_low:.3f}-{s.ci_high:.3f}",
                  "subs": str(s.submissions)}
        if private:
            change = s.change or 0
            values["public #"] = str(s.public_rank or "-")
            values["change"] = f"{change:+d}" if change else "="
        for name, value in values.items():
            cells[name].append(value)
    longest = max([len(s.team) for s in standings] + [4])
    team_min = min(longest, 20)
    kept = _fit(cells, width, team_min)
    table = Table(title=title, box=box.SIMPLE_HEAVY, caption=caption)
    for col in kept:  # numbers never wrap; team names fold only on very narrow terminals
        header = meta.get("metric", "score") + (" (higher is better)" if "metric" in meta else "") if col == "score" else col
        table.add_column(header, justify="left" if col == "team" else "right", no_wrap=col != "team",
                         min_width=team_min if col == "team" else None)
    for i in range(len(standings)):
        row = []
        for col in kept:
            value = cells[col][i]
            if col == "change":
                style = "green" if value.startswith("+") else "red" if value.startswith("-") else ""
                value = Text(value, style=style)
            row.append(value)
        table.add_row(*row)
    return table


def attempts_table(entries, private: bool) -> Table:
    """Every attempt, failed ones included, in file order."""
    table = Table(title="all attempts")
    for col in ("id", "time (UTC)", "team", "status", "MACs", "public F1", "public score", *(["private score"] if private else []), "reason"):
        table.add_column(col)
    for e in entries:
        status = Text(e.status, style="green" if e.scored else "red")
        table.add_row(str(e.id), e.time_utc, e.team, status, _fmt_int(e.macs), _fmt(e.public_f1), _fmt(e.public_score),
                      *([_fmt(e.private_score)] if private else []), e.failure + (f": {e.message}" if e.message else ""))
    return table


def history_table(rows: list[dict], team: str, score_name: str = "score") -> Table:
    """A team's day-by-day log; `score_name` heads the score column (the metric under "budget")."""
    table = Table(title=f"history of {team}")
    for col in ("id", "time (UTC)", "status", "MACs", "F1", score_name, "best so far"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["id"]), r["time_utc"], r["status"] if not r["failure"] else f"failed: {r['failure']}",
                      _fmt_int(r["macs"]), _fmt(r["f1"]), _fmt(r["score"]), _fmt(r["best_so_far"]))
    return table


def percent(p: float, zero: str = ".") -> str:
    """A probability as a short percentage: '73%', '<1%' when small but not zero, `zero` for zero."""
    if p == 0:
        return zero
    return "<1%" if p < 0.005 else ">99%" if 0.995 <= p < 1 else f"{p:.0%}"


MAX_RANK_COLUMNS = 12
"""Up to this many teams the forecast table shows every P(final rank = k) column."""


def forecast_table(forecast, team: str | None = None) -> Table:
    """Per team by public rank: its final picks, P(1st), P(top 3), expected rank, private-score interval.

    With `team`, that team only; every P(final rank = k) is shown when the board is small
    enough, or for the one team.
    """
    rows = [forecast.team(team)] if team else list(forecast.teams)
    n = len(forecast.teams)
    per_rank = n <= MAX_RANK_COLUMNS or team is not None
    table = Table(title="shake-up forecast (from public information only)", box=box.SIMPLE_HEAVY,
                  caption=f"{forecast.draws} paired draws of {forecast.private_images} unseen images from the "
                          f"{forecast.public_images} public ones; final picks as the private board takes them; "
                          f"{forecast.interval:.0%} interval of the private score")
    columns = ["public #", "team", "picks", "public score", "P(1st)", "P(top 3)", "E(rank)", f"{forecast.interval:.0%} private score"]
    columns += [f"#{k}" for k in range(1, n + 1)] if per_rank else []
    for col in columns:
        table.add_column(col, justify="left" if col == "team" else "right", no_wrap=col != "team")
    for t in rows:
        cells = [str(t.public_rank), t.team, ",".join(map(str, t.picks)), _fmt(t.public_score), percent(t.p_first),
                 percent(t.p_top3), f"{t.expected_rank:.2f}", f"{t.score_low:.3f}-{t.score_high:.3f}"]
        if per_rank:
            cells += [percent(p) for p in t.rank_probabilities]
        table.add_row(*cells)
    return table


def backtest_report(bt) -> Group:
    """Brier scores against the public board taken as final, interval coverage, reliability tables."""
    summary = Table(title=f"forecast backtest: {bt.splits} random public/private re-splits of the held-out images, "
                          f"{bt.teams} teams, {bt.draws} draws each", box=box.SIMPLE_HEAVY)
    for col in ("event", "Brier (forecast)", "Brier (public board as final)"):
        summary.add_column(col, justify="left" if col == "event" else "right")
    summary.add_row("top 3", f"{bt.top3.brier:.4f}", f"{bt.top3.public_board_brier:.4f}")
    summary.add_row("rank 1", f"{bt.first.brier:.4f}", f"{bt.first.public_board_brier:.4f}")
    parts = [summary, Text(f"{bt.interval:.0%} private-score interval held the realised score in {bt.interval_coverage:.1%} "
                           f"of {bt.forecasts} team forecasts (lower Brier is better)")]
    for calibration, label in ((bt.top3, "P(top 3)"), (bt.first, "P(rank 1)")):
        table = Table(title=f"reliability of {label}", box=box.SIMPLE)
        for col in ("forecast bin", "forecasts", "mean forecast", "observed frequency"):
            table.add_column(col, justify="right")
        for b in calibration.bins:
            table.add_row(f"{b.low:.1f}-{b.high:.1f}", str(b.count), _fmt(b.mean_forecast, 3), _fmt(b.observed, 3))
        parts.append(table)
    return Group(*parts)


def reference_table(result, cfg: Competition) -> Table:
    """The reference recomputed (`ReferenceCheck`) next to its pinned values ("-" when none are pinned)."""
    pinned = cfg.pinned_reference
    table = Table(title=f"reference: {cfg.reference_path.name}")
    for col in ("", "recomputed", "pinned"):
        table.add_column(col, justify="right")
    table.add_row("MACs", f"{result.macs:,}", f"{pinned.macs:,}" if pinned else "-")
    if cfg.reference_private_macs is not None:
        table.add_row("MACs (private board)", f"{result.macs:,}", f"{cfg.reference_private_macs:,}")
    table.add_row("macro-F1 public", f"{result.public_f1:.6f}", f"{pinned.f1:.6f}" if pinned else "-")
    table.add_row("macro-F1 private", f"{result.private_f1:.6f}", f"{cfg.reference_for('private').f1:.6f}" if pinned else "-")
    return table
