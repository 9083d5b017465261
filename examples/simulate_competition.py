"""Replay a small competition: four teams, three days, two dozen submissions.

    .venv/bin/python examples/simulate_competition.py --out /tmp/sim

Every submission is really evaluated (worker, verifier, scoring); only the clock is
simulated, through the library's `now=` argument, so that quotas and day boundaries
show. Cheating entries from `tests/cheats/` are rejected and recorded as failed
attempts. At the end it prints the public board, the shake-up forecast made before the
reveal and the private board, and writes the plots and the HTML page (`board.html`);
afterwards `harness leaderboard --leaderboard OUT/leaderboard.csv --private` and
`harness history TEAM --leaderboard ...` work on the result as on any board.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.board import history, private_board, public_board, read_picks, select_final  # noqa: E402
from harness.config import load_config  # noqa: E402
from harness.data import open_dataset, read_answer_key  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.evaluate import evaluate_submission  # noqa: E402
from harness.forecast import forecast_board  # noqa: E402
from harness.leaderboard import read_entries  # noqa: E402
from harness.page import write_board_page  # noqa: E402
from harness.plots import plot_board, plot_history  # noqa: E402

S, C = ROOT / "submissions", ROOT / "tests" / "cheats"
PLAN = {  # day -> [(team, file)]
    0: [("alpha", S / "team7.py"), ("beta", ROOT / "baselines" / "reference.py"), ("gamma", S / "zoo_magnitude_pruned.py"),
        ("delta", C / "functional_conv.py"), ("alpha", S / "zoo_layer_pruned.py"), ("beta", S / "zoo_quantized.py"),
        ("delta", S / "zoo_decomposed.py"), ("gamma", S / "zoo_channel_pruned.py")],
    1: [("alpha", S / "team4.py"), ("beta", S / "zoo_decomposed.py"), ("gamma", S / "zoo_distilled.py"),
        ("delta", C / "grad_path.py"), ("delta", S / "zoo_channel_pruned.py"), ("alpha", S / "zoo_distilled.py"),
        ("beta", S / "zoo_channel_pruned.py"), ("gamma", S / "team7.py")],
    2: [("alpha", S / "zoo_shufflenet.py"), ("beta", S / "team4.py"), ("gamma", S / "zoo_shufflenet.py"),
        ("delta", S / "zoo_distilled.py"), ("alpha", S / "zoo_channel_pruned.py"), ("beta", S / "zoo_shufflenet.py"),
        ("gamma", S / "zoo_decomposed.py"), ("delta", S / "zoo_layer_pruned.py")],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--days", type=int, default=len(PLAN), help="Days of the plan to replay (a smaller replay).")
    parser.add_argument("--per-day", type=int, default=8, help="Submissions per day to replay.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    board = args.out / "leaderboard.csv"
    cfg = load_config(ROOT / "pyproject.toml")
    start = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
    for day, plan in list(PLAN.items())[:args.days]:
        for i, (team, path) in enumerate(plan[:args.per_day]):
            now = start + timedelta(days=day, minutes=37 * i)
            try:
                r = evaluate_submission(path, cfg, board, team=team, now=now)
                print(f"{now:%Y-%m-%d %H:%M} {team:6s} {path.name:26s} score {r.entry.public_score:.4f}  ({r.remaining_today} left today)")
            except HarnessError as e:
                print(f"{now:%Y-%m-%d %H:%M} {team:6s} {path.name:26s} FAILED: {e.message[:90]}")
    entries = read_entries(board)
    alpha = [e for e in entries if e.team == "alpha" and e.scored]
    if alpha:
        select_final(board, "alpha", [alpha[-1].id], cfg.final_picks)  # alpha picks its last submission only
    key = read_answer_key(open_dataset(cfg.data_dir, cfg.classes))
    print("\npublic board")
    for s in public_board(entries, cfg, key):
        print(f"  {s.rank}. {s.team:6s} {s.score:.4f}  [{s.ci_low:.4f}, {s.ci_high:.4f}]  tie group {s.tie_group}")
    print("forecast before the reveal (public labels and each team's final picks only)")
    for t in forecast_board(entries, read_picks(board), cfg, key).teams:
        print(f"  {t.team:6s} P(1st) {t.p_first:4.0%}  P(top 3) {t.p_top3:4.0%}  expected rank {t.expected_rank:.2f}")
    print("private board (final picks; alpha chose one, the others got their two best public)")
    for s in private_board(entries, read_picks(board), cfg, key):
        print(f"  {s.rank}. {s.team:6s} {s.score:.4f}  public rank {s.public_rank}, change {s.change:+d}")
    plot_board(entries, cfg, args.out / "board.png")
    plot_history(history(entries, "alpha"), "alpha", args.out / "alpha.png")
    write_board_page(args.out / "board.html", entries, read_picks(board), cfg, key, private=True)
    print(f"\n{len(entries)} attempts in {board}; plots and board.html in {args.out}")


if __name__ == "__main__":
    main()
