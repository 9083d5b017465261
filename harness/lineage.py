"""Answer-key corrections: a fixed label or a removed test image, and the competition's lineage.

A correction changes the competition's identity (the hash of its manifest and answer
key). `fix_answers` applies it, rewrites the manifest and records the old identity, with
the test images it scored in order, in `<data>/lineage.json`; the rows of an old
identity stay this competition's rows: `relabeller` recomputes their macro-F1 values from
the predictions each row stores, image by image, under the corrected key.

Example:
    fix = fix_answers(cfg, Path("answers-fixed.csv"), removed=["0042.png"])
    rescore(Path("board.csv"), cfg, fix.new_identity, relabel=relabeller(cfg), ancestors=ancestors(cfg.data_dir))
"""
from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from harness.data import ANSWERS, check_dataset, competition_identity, open_dataset, read_answer_key, write_manifest
from harness.errors import DataError, LeaderboardError
from harness.fileio import atomic_write
from harness.leaderboard import Entry, decode_predictions, encode_predictions
from harness.metrics import macro_f1

LINEAGE = "lineage.json"
FIXES = "fixes"


@dataclass(frozen=True)
class Fix:
    """One applied correction: the identities before and after, and where the old files were kept."""

    old_identity: str
    new_identity: str
    relabelled: int
    removed: tuple[str, ...]
    kept_in: Path


def read_lineage(root: Path) -> dict[str, list[str]]:
    """Each earlier identity of the competition, with its test image names in scoring order."""
    path = Path(root) / LINEAGE
    if not path.is_file():
        return {}
    try:
        return {str(k): [str(n) for n in v] for k, v in json.loads(path.read_text())["identities"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise DataError(f"{path}: not a valid lineage file (expected {{\"identities\": {{identity: [images]}}}})") from None


def ancestors(root: Path) -> tuple[str, ...]:
    """The competition's earlier identities (empty before any correction)."""
    return tuple(read_lineage(root))


def _changed_labels(old: Path, new: Path) -> int:
    def rows(path: Path) -> dict[str, tuple[str, str]]:
        with path.open(newline="") as f:
            return {r.get("image", ""): (r.get("label", ""), r.get("part", "")) for r in csv.DictReader(f)}

    before, after = rows(old), rows(new)
    return sum(1 for image, value in after.items() if image in before and before[image] != value)


def fix_answers(cfg, answers: Path | None, removed: list[str] = ()) -> Fix:
    """Replace the answer key with `answers` and/or remove test images, then re-pin the manifest.

    The old key and the removed images are moved to `<data>/fixes/<UTC time>/`; the data set
    is checked before anything is kept (on a problem everything is put back and DataError
    names it). Raises DataError when nothing would change.
    """
    root = cfg.data_dir
    dataset = open_dataset(root, cfg.classes)  # the data set as scored so far, checked against its manifest
    old_identity = competition_identity(cfg.name, root)
    old_images = [p.name for p in dataset.test_images]
    if answers is None and not removed:
        raise DataError("nothing to fix: give --answers FILE (a corrected answer key) and/or --remove IMAGE")
    if answers is not None and not Path(answers).is_file():
        raise DataError(f"{answers}: no such answer key")
    unknown = [n for n in removed if Path(n).name not in old_images]
    if unknown:
        raise DataError(f"{root / 'test' / Path(unknown[0]).name}: not a test image of the competition")
    kept_in = root / FIXES / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    kept_in.mkdir(parents=True)
    shutil.copy2(root / ANSWERS, kept_in / ANSWERS)
    moved = [Path(n).name for n in removed]
    relabelled = _changed_labels(root / ANSWERS, Path(answers)) if answers is not None else 0
    try:
        if answers is not None:
            shutil.copyfile(answers, root / ANSWERS)
        for name in moved:
            shutil.move(root / "test" / name, kept_in / name)
        check_dataset(root, cfg.classes, manifest=False)
    except DataError:
        for name in moved:
            if (kept_in / name).exists():
                shutil.move(kept_in / name, root / "test" / name)
        shutil.copy2(kept_in / ANSWERS, root / ANSWERS)
        raise
    write_manifest(root, cfg.classes)
    new_identity = competition_identity(cfg.name, root)
    if new_identity == old_identity:
        raise DataError("the corrected key is the current one: nothing changed")
    lineage = read_lineage(root)
    lineage[old_identity] = old_images
    atomic_write(root / LINEAGE, json.dumps({"identities": lineage}, indent=1))
    return Fix(old_identity, new_identity, relabelled, tuple(moved), kept_in)


def relabeller(cfg):
    """`Entry -> Entry`: a row's public and private macro-F1 recomputed under the current key.

    A row of an earlier identity is aligned image by image (its predictions follow that
    identity's test images; removed images are dropped). Raises LeaderboardError for a row
    whose predictions fit neither.
    """
    dataset = open_dataset(cfg.data_dir, cfg.classes)
    key = read_answer_key(dataset)
    names = [p.name for p in dataset.test_images]
    lineage = read_lineage(cfg.data_dir)

    def relabel(e: Entry) -> Entry:
        predictions = decode_predictions(e.predictions)
        if e.competition in lineage:
            position = {n: i for i, n in enumerate(lineage[e.competition])}
            if len(predictions) != len(position) or any(n not in position for n in names):
                raise LeaderboardError(f"row {e.id} ({e.team}): its {len(predictions)} predictions do not match the "
                                       f"{len(position)} test images of {e.competition}; it cannot be rescored")
            predictions = predictions[[position[n] for n in names]]
        elif len(predictions) != len(names):
            raise LeaderboardError(f"row {e.id} ({e.team}) holds {len(predictions)} predictions for {len(names)} test images; "
                                   "it cannot be rescored")
        public = macro_f1(key.labels[key.public], predictions[key.public], cfg.num_classes)
        private = macro_f1(key.labels[key.private], predictions[key.private], cfg.num_classes)
        stored = encode_predictions(predictions) if e.competition in lineage else e.predictions  # in the current image order
        return replace(e, public_f1=public, private_f1=private, predictions=stored)

    return relabel
