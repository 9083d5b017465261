"""Score the zoo with the harness and rewrite the README's table.

    python baselines/zoo_table.py                              # temporary leaderboard
    python baselines/zoo_table.py --leaderboard leaderboard.csv  # also the committed board
    python baselines/zoo_table.py --formats                    # the zoo under 2021 and examples/size-budget.toml

With `--formats`, each entry is evaluated once under the default configuration; a copy
of that board is rescored (`harness rescore`'s code) under `examples/size-budget.toml`:
accuracy on the same predictions, the byte cap on the stored size each row recorded.
`--only team4,zoo_quantized` takes some entries; `--no-readme` only prints.

Every row of the table comes from `harness evaluate` (the same isolated worker,
verifier and scoring as any submission); nothing is typed by hand.
"""
from __future__ import annotations

import argparse
import re
import shutil
import tempfile
from pathlib import Path

from common import ROOT, load_config

from harness.board import public_board, rescore  # noqa: E402
from harness.data import ensure_dataset, read_answer_key  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.evaluate import evaluate_submission  # noqa: E402
from harness.leaderboard import read_entries  # noqa: E402

ZOO = [
    ("reference (small CNN)", "baselines/reference.py"),
    ("depthwise-separable CNN", "submissions/team4.py"),
    ("reduced input size (14x14)", "submissions/team7.py"),
    ("ShuffleNet-style, group conv + channel shuffle, 20x20 input", "submissions/zoo_shufflenet.py"),
    ("knowledge distillation into a separable student (alpha 0.7, T 4)", "submissions/zoo_distilled.py"),
    ("layer pruning + fine-tuning", "submissions/zoo_layer_pruned.py"),
    ("channel pruning (L1 filters) + fine-tuning", "submissions/zoo_channel_pruned.py"),
    ("decomposition into depthwise + pointwise", "submissions/zoo_decomposed.py"),
    ("8-bit weight quantization (file size only)", "submissions/zoo_quantized.py"),
    ("unstructured magnitude pruning, 80% (no MAC saving)", "submissions/zoo_magnitude_pruned.py"),
]
START, END = "<!-- zoo-table:start -->", "<!-- zoo-table:end -->"
FORMATS_START, FORMATS_END = "<!-- zoo-formats:start -->", "<!-- zoo-formats:end -->"
BUDGET_EXAMPLE = ROOT / "examples" / "size-budget.toml"


def _rewrite_readme(start: str, end: str, lines: list[str]) -> None:
    readme = ROOT / "README.md"
    table = "\n".join([start, *lines, end])
    readme.write_text(re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _m: table, readme.read_text(), flags=re.S))


def formats_table(zoo: list[tuple[str, str]], board: Path) -> list[str]:
    """Evaluate `zoo` into `board` under the default configuration; the markdown table of both formats."""
    cfg, budget = load_config(ROOT / "pyproject.toml"), load_config(BUDGET_EXAMPLE)
    failures = {}
    for _, path in zoo:
        try:
            evaluate_submission(ROOT / path, cfg, board, team="reference" if path.startswith("baselines") else None)
        except HarnessError as e:
            failures[path] = e.message
    rescored = board.with_name(board.stem + "-budget.csv")
    shutil.copy(board, rescored)
    rescore(rescored, budget, key=read_answer_key(ensure_dataset(budget)))
    by_path = {Path(e.submission).resolve(): e for e in read_entries(board)}
    after = {e.id: e for e in read_entries(rescored)}
    rank_2021 = {s.entry_id: s.rank for s in public_board(read_entries(board), cfg, None)}
    rank_budget = {s.entry_id: s.rank for s in public_board(list(after.values()), budget, None)}
    cap = budget.rule.caps.max_weights_bytes
    lines = [f"| technique | submission | stored bytes | params | MACs | 2021: score (rank) | "
             f"budget: accuracy (rank), cap {cap:,} bytes |", "|---|---|---:|---:|---:|---:|---:|"]
    for technique, path in zoo:
        e = by_path.get((ROOT / path).resolve())
        if e is None or not e.scored:
            lines.append(f"| {technique} | `{path}` | | | | {failures.get(path, 'failed')} | |")
            continue
        b = after[e.id]
        budget_cell = (f"{b.public_score:.4f} ({rank_budget[e.id]})" if b.scored
                       else f"over the cap by {e.stored_bytes - cap:,} bytes")
        lines.append(f"| {technique} | `{path}` | {e.stored_bytes:,} | {e.params:,} | {e.macs:,} | "
                     f"{e.public_score:.4f} ({rank_2021[e.id]}) | {budget_cell} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leaderboard", type=Path, default=None, help="append the rows here (default: a temporary file)")
    parser.add_argument("--formats", action="store_true", help="the zoo under both formats (2021 and examples/size-budget.toml)")
    parser.add_argument("--only", default="", help="comma-separated stems of the entries to take (default: all)")
    parser.add_argument("--no-readme", action="store_true", help="print the table only")
    args = parser.parse_args()
    stems = {s.strip() for s in args.only.split(",") if s.strip()}
    zoo = [(t, p) for t, p in ZOO if not stems or Path(p).stem in stems]
    if args.formats:
        lines = formats_table(zoo, args.leaderboard or Path(tempfile.mkdtemp()) / "zoo.csv")
        print("\n".join(lines))
        if not args.no_readme:
            _rewrite_readme(FORMATS_START, FORMATS_END, lines)
        return
    cfg = load_config(ROOT / "pyproject.toml")
    board = args.leaderboard or Path(tempfile.mkdtemp()) / "zoo.csv"
    lines = [
        "| technique | submission | MACs | macro-F1 (public) | score (public) | weights | what the harness says |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for technique, path in zoo:
        team = "reference" if path.startswith("baselines") else None
        result = evaluate_submission(ROOT / path, cfg, board, team=team)
        e, r = result.entry, result.report
        note = "; ".join(r.notes) or "accepted"
        lines.append(f"| {technique} | `{path}` | {e.macs:,} | {e.public_f1:.4f} | {e.public_score:.4f} | "
                     f"{r.weights_bytes / 1024:.1f} KiB | {note} |")
        print(lines[-1])
    _rewrite_readme(START, END, lines)
    print(f"README table rewritten; rows appended to {board}")


if __name__ == "__main__":
    main()
