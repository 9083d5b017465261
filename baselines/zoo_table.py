"""Score the zoo with the harness and rewrite the README's table.

    python baselines/zoo_table.py                              # temporary leaderboard
    python baselines/zoo_table.py --leaderboard leaderboard.csv  # also the committed board

Every row of the table comes from `harness evaluate` (the same isolated worker,
verifier and scoring as any submission); nothing is typed by hand.
"""
from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

from common import ROOT, load_config

from harness.evaluate import evaluate_submission  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leaderboard", type=Path, default=None, help="append the rows here (default: a temporary file)")
    args = parser.parse_args()
    cfg = load_config(ROOT / "pyproject.toml")
    board = args.leaderboard or Path(tempfile.mkdtemp()) / "zoo.csv"
    lines = [
        "| technique | submission | MACs | macro-F1 (public) | score (public) | weights | what the harness says |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for technique, path in ZOO:
        team = "reference" if path.startswith("baselines") else None
        result = evaluate_submission(ROOT / path, cfg, board, team=team)
        e, r = result.entry, result.report
        note = "; ".join(r.notes) or "accepted"
        lines.append(f"| {technique} | `{path}` | {e.macs:,} | {e.public_f1:.4f} | {e.public_score:.4f} | "
                     f"{r.weights_bytes / 1024:.1f} KiB | {note} |")
        print(lines[-1])
    readme = ROOT / "README.md"
    text = readme.read_text()
    table = "\n".join([START, *lines, END])
    readme.write_text(re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _m: table, text, flags=re.S))
    print(f"README table rewritten; rows appended to {board}")


if __name__ == "__main__":
    main()
