"""One self-contained HTML page of the board, for a host to publish.

Everything is inline: the style sheet in a `<style>` element, the plots as base64 PNG
`data:` URIs. The page has no script and names no font, file or address elsewhere, so
it shows the same from a disk, a web server or an archive. Every text that comes from
the board (team names above all) is escaped.

It holds the public board with its intervals and tie groups, the Pareto plot, the
shake-up forecast when the public labels are at hand, and the private board only when
asked for.

Usage:
    write_board_page(Path("board.html"), entries, read_picks(lb), cfg, key, private=False)
"""
from __future__ import annotations

import base64
import io
from datetime import datetime, timezone
from html import escape
from pathlib import Path

from harness.board import CONFIDENCE, Standing, board_config_ids, private_board, public_board
from harness.config import Competition
from harness.data import AnswerKey
from harness.errors import HarnessError
from harness.fileio import atomic_write
from harness.forecast import DRAWS, Forecast, forecast_board
from harness.leaderboard import Entry
from harness.plots import plot_board, plot_rank_probabilities
from harness.render import percent

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 72rem;
       padding: 0 1rem; color: #1b1f24; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem; }
p.meta, p.note { color: #57606a; font-size: 0.9rem; margin: 0.3rem 0; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.92rem; }
th, td { padding: 0.35rem 0.6rem; border-bottom: 1px solid #d0d7de; white-space: nowrap; }
th { text-align: right; background: #f6f8fa; } th.team, td.team { text-align: left; }
td { text-align: right; font-variant-numeric: tabular-nums; }
tr.group-odd td { background: #ffffff; } tr.group-even td { background: #eef4fb; }
td.up { color: #1a7f37; } td.down { color: #cf222e; }
.bar { position: relative; width: 11rem; height: 0.8rem; background: #eaeef2; border-radius: 0.2rem; }
.bar span { position: absolute; top: 0; bottom: 0; background: #0969da; border-radius: 0.2rem; min-width: 2px; }
.bar i { position: absolute; top: -0.15rem; bottom: -0.15rem; width: 2px; background: #1b1f24; }
img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
div.scroll { overflow-x: auto; }
"""


def _png(plot, *args) -> str:
    buffer = io.BytesIO()
    plot(*args, buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _table(headers: list[str], rows: list[tuple[str, list]], caption: str) -> str:
    """Rows are (css class, cells); a cell is escaped HTML, or (escaped HTML, css class)."""
    head = "".join(f'<th class="team" scope="col">{h}</th>' if h == "team" else f'<th scope="col">{h}</th>' for h in headers)
    body = []
    for css, cells in rows:
        cells = [(c, "team" if h == "team" else "") if isinstance(c, str) else c for h, c in zip(headers, cells)]
        tds = "".join(f'<td class="{cls}">{c}</td>' if cls else f"<td>{c}</td>" for c, cls in cells)
        body.append(f'<tr class="{css}">{tds}</tr>')
    return (f'<div class="scroll"><table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _interval_bar(s: Standing, lo: float, hi: float) -> str:
    if s.ci_low is None:
        return "-"
    span = (hi - lo) or 1.0
    left, width, mark = (s.ci_low - lo) / span * 100, (s.ci_high - s.ci_low) / span * 100, (s.score - lo) / span * 100
    return (f'<div class="bar" title="{s.ci_low:.3f} to {s.ci_high:.3f}"><span style="left:{left:.1f}%;width:{width:.1f}%">'
            f'</span><i style="left:{mark:.1f}%"></i></div>')


def _board_table(standings: list[Standing], private: bool, caption: str, score_name: str = "score") -> str:
    known = [s for s in standings if s.ci_low is not None]
    lo = min((s.ci_low for s in known), default=0.0)
    hi = max((s.ci_high for s in known), default=1.0)
    headers = ["#", "tie group", "team", "id", "MACs", "macro-F1", score_name, f"{CONFIDENCE:.0%} interval", "", "submissions"]
    if private:
        headers += ["public #", "change"]
    rows = []
    for s in standings:
        cells = [str(s.rank), str(s.tie_group or "-"), escape(s.team), str(s.entry_id), f"{s.macs:,}", f"{s.f1:.4f}",
                 f"{s.score:.4f}", "-" if s.ci_low is None else f"{s.ci_low:.3f}&ndash;{s.ci_high:.3f}",
                 _interval_bar(s, lo, hi), str(s.submissions)]
        if private:
            change = s.change or 0
            css = "up" if change > 0 else "down" if change < 0 else ""
            cells += [str(s.public_rank or "-"), (f"{change:+d}" if change else "=", css)]
        rows.append(("group-odd" if (s.tie_group or s.rank) % 2 else "group-even", cells))
    return _table(headers, rows, caption)


def _forecast_section(fc: Forecast) -> str:
    headers = ["public #", "team", "final picks", "public score", "P(1st)", "P(top 3)", "expected rank",
               f"{fc.interval:.0%} private score"]
    rows = [("group-odd" if i % 2 == 0 else "group-even",
             [str(t.public_rank), escape(t.team), ", ".join(map(str, t.picks)), f"{t.public_score:.4f}",
              percent(t.p_first, "0%"), percent(t.p_top3, "0%"), f"{t.expected_rank:.2f}", f"{t.score_low:.3f}&ndash;{t.score_high:.3f}"])
            for i, t in enumerate(fc.teams)]
    caption = (f"{fc.draws:,} simulated private boards, each from {fc.private_images} images drawn from the "
               f"{fc.public_images} public ones, the same draws for every team")
    return (f"<h2>Shake-up forecast</h2><p class=\"note\">How likely each final rank is, from public information "
            f"only: the public labels and each team's predictions for its final picks.</p>"
            f"{_table(headers, rows, caption)}"
            f'<img alt="heat map of each team\'s probability of each final rank" src="{_png(plot_rank_probabilities, fc)}">')


def board_page(entries: list[Entry], picks: dict[str, list[int]], cfg: Competition, key: AnswerKey | None,
               private: bool = False, draws: int = DRAWS, seed: int = 0, now: datetime | None = None) -> str:
    """The whole page as one string; see the module doc. Without `key`: no intervals, no forecast."""
    public = public_board(entries, cfg, key)
    if not public:
        raise HarnessError("no scored submissions on the board yet: nothing to publish")
    now = now or datetime.now(timezone.utc)
    configs = ", ".join(sorted(board_config_ids(entries))) or cfg.config_id
    resamples = f"{CONFIDENCE:.0%} intervals from {cfg.bootstrap_resamples:,} seeded bootstrap resamples of the"
    rule = cfg.rule
    if rule.scoring == "2021":
        direction, plane = "Lower scores are better.", "MACs against macro-F1"
    else:
        caps = ", ".join(f"{k} = {v:,}" for k, v in rule.caps.items()) or "no caps"
        direction, plane = f"Ranked by {rule.metric}: higher is better, within every cap ({caps}).", f"Size against {rule.metric}"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(cfg.name)}: leaderboard</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(cfg.name)}: leaderboard</h1>",
        f"<p class=\"meta\">{len(public)} teams, {sum(e.scored for e in entries)} scored submissions; "
        f"generated {now:%Y-%m-%d %H:%M} UTC; scores under {escape(configs)}. {escape(direction)}</p>",
        "<h2>Public board</h2>",
        "<p class=\"note\">Best public score per team. Teams whose interval overlaps their group leader's "
        "share a tie group (shaded alike); the bar shows the interval and the tick the score.</p>",
        _board_table(public, False, f"{resamples} public images", rule.score_name),
        f"<h2>{plane}</h2>",
        f'<img alt="every scored submission on {plane}, with the Pareto front" '
        f'src="{_png(plot_board, entries, cfg)}">',
    ]
    if key is not None:
        parts.append(_forecast_section(forecast_board(entries, picks, cfg, key, draws, seed)))
    if private:
        parts += ["<h2>Private board (final standings)</h2>",
                  "<p class=\"note\">Each team's best private score among its final picks.</p>",
                  _board_table(private_board(entries, picks, cfg, key), True, f"{resamples} private images", rule.score_name)]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_board_page(path: Path, entries: list[Entry], picks: dict[str, list[int]], cfg: Competition,
                     key: AnswerKey | None, private: bool = False) -> Path:
    """Write `board_page(...)` to `path` atomically; HarnessError when it cannot be written."""
    text = board_page(entries, picks, cfg, key, private)
    try:
        atomic_write(path, text)
        Path(path).chmod(0o644)  # a page to publish: readable by the web server
    except OSError as e:
        raise HarnessError(f"cannot write page {path}: {e.strerror or e}") from None
    return path
