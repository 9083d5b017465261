"""`harness init`: a new competition from a folder of class folders (ImageFolder style).

    FOLDER/<class>/*.png  ->  DIR/pyproject.toml       [tool.harness]: name, data, classes, mean, std, reference
                              DIR/data/train/<class>/  DIR/data/val/<class>/  DIR/data/test/
                              DIR/data/answers.csv     DIR/data/manifest.json
                              DIR/reference.py + .pt   a nearest-centroid reference (one nn.Linear)

The split is seeded and per class: a share of each class is held out, renamed in a
shuffled order and divided between the public and the private part, so both parts
hold every class. The configuration has no reference values yet: `harness reference
--write` computes and adds them.

Usage:
    made = init_competition(Path("digits"), Path("~/digits-png").expanduser(), seed=0)
    made.config.name, made.classes[:2], made.test_images > 0
    # -> ('pyproject.toml', ('eight', 'five'), True)
"""
from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from harness import data as data_mod
from harness import preprocess
from harness.config import rule_lines
from harness.errors import DataError, HarnessError
from harness.scoring import Rule

MIN_PER_CLASS = 4  # one train, one val, one public and one private test image
REFERENCE_STUB = '''"""The reference of the {name} competition, written by `harness init`: a nearest-centroid classifier.

One nn.Linear whose rows are the class means of the preprocessed training images (bias
-|mean|^2 / 2), so its argmax is the nearest class mean. Replace it with a real model
(any number of classes: it is read from the weights) and run `harness reference --write`.
"""
from pathlib import Path

import torch
from torch import nn

INPUT_SIZE = ({size}, {size})
TEAM = "reference"


def build_model() -> nn.Module:
    state = torch.load(Path(__file__).with_suffix(".pt"), map_location="cpu", weights_only=True)
    num_classes, features = state["1.weight"].shape
    model = nn.Sequential(nn.Flatten(), nn.Linear(features, num_classes))
    model.load_state_dict(state)
    return model.eval()
'''


@dataclass(frozen=True)
class Scaffold:
    """What `init_competition` wrote."""

    root: Path
    config: Path
    reference: Path
    classes: tuple[str, ...]
    train_images: int
    val_images: int
    test_images: int


def source_classes(source: Path, classes: Sequence[str] | None = None) -> dict[str, list[Path]]:
    """The images of each class folder of `source` (all folders, or `classes` in that order)."""
    source = Path(source)
    if not source.is_dir():
        raise DataError(f"--from {source}: not a folder (expected FOLDER/<class>/*.png)")
    found = {p.name: p for p in sorted(source.iterdir()) if p.is_dir() and not p.name.startswith(".")}
    if classes:
        unknown = [c for c in classes if c not in found]
        if unknown:
            raise DataError(f"{source / unknown[0]}: no such class folder (found: {', '.join(found) or 'none'})")
        if len(set(classes)) != len(classes):
            raise DataError(f"--classes: {', '.join(classes)} names a class twice")
        found = {c: found[c] for c in classes}
    if len(found) < 2:
        raise DataError(f"{source}: {len(found)} class folder(s); a competition needs at least two (FOLDER/<class>/*.png)")
    images = {}
    for name, folder in found.items():
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in data_mod.IMAGE_SUFFIXES)
        if len(files) < MIN_PER_CLASS:
            raise DataError(f"{folder}: {len(files)} image(s); each class needs at least {MIN_PER_CLASS} (train, val, public, private)")
        for file in files:
            preprocess.load_image(file)  # DataError naming the file
        images[name] = files
    return images


def _split(images: dict[str, list[Path]], seed: int, val_fraction: float, test_fraction: float):
    rng = np.random.default_rng(seed)
    train, val, test = {}, {}, []
    for label, files in images.items():
        order = [files[i] for i in rng.permutation(len(files))]
        n_test = max(2, int(round(len(files) * test_fraction)))
        n_val = max(1, int(round(len(files) * val_fraction)))
        held, val[label], train[label] = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
        n_public = (n_test + 1) // 2 if rng.random() < 0.5 else n_test // 2
        test += [(f, label, "public" if i < n_public else "private") for i, f in enumerate(held)]
    return train, val, [test[i] for i in rng.permutation(len(test))]


def _statistics(paths: list[Path], size: int) -> tuple[list[float], list[float]]:
    from PIL import Image

    pixels = []
    for path in paths:
        with Image.open(path) as img:
            pixels.append(np.asarray(img.convert("RGB").resize((size, size)), dtype=np.float64).reshape(-1, 3) / 255.0)
    stacked = np.concatenate(pixels)
    mean, std = stacked.mean(axis=0), np.maximum(stacked.std(axis=0), 1e-3)
    return [round(float(v), 4) for v in mean], [round(float(v), 4) for v in std]


def _centroid_weights(train: dict[str, list[Path]], size: int, mean, std) -> dict:
    import torch

    transform = preprocess.default_transform((size, size), mean, std)
    rows = []
    for files in train.values():
        x = preprocess.transform_images(files, transform).reshape(len(files), -1)
        rows.append(x.mean(axis=0))
    weight = torch.tensor(np.stack(rows), dtype=torch.float32)
    return {"1.weight": weight, "1.bias": -0.5 * (weight ** 2).sum(dim=1)}


def _config_text(name: str, source: Path, classes: Sequence[str], mean, std, seed: int, rule: Rule = Rule()) -> str:
    return "\n".join([
        "[tool.harness]",
        f"# Created by `harness init` from {source}. Paths are relative to this file.",
        f"name = {json.dumps(name)}",
        'data = "data"',
        f"classes = {json.dumps(list(classes))}",
        f"mean = {json.dumps(mean)}",
        f"std = {json.dumps(std)}",
        'reference = "reference.py"',
        f"split_seed = {seed}",
        "daily_limit = 10",
        "final_picks = 2",
        "bootstrap_resamples = 1000",
        *rule_lines(rule),
        "# start = 2026-12-01T00:00:00Z        # optional: submissions open (UTC)",
        "# end = 2026-12-31T23:59:59Z          # optional: submissions close, the private board may be revealed",
        '# teams = ["alpha", "beta"]           # optional: the registered teams',
        "# reference_macs and reference_f1 are added by `harness reference --write`",
        "",
    ])


def init_competition(
    target: Path,
    source: Path,
    classes: Sequence[str] | None = None,
    seed: int = 0,
    name: str | None = None,
    val_fraction: float = 0.15,
    test_fraction: float = 0.3,
    input_size: int | None = None,
    rule: Rule = Rule(),
) -> Scaffold:
    """Scaffold a competition in `target` from `source`/<class>/* (see module docstring).

    Everything is checked before anything is written; `target` must not exist or be empty.
    On a failure half-way the partly written `target` is removed.
    """
    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise HarnessError(f"{target} exists and is not empty; choose a new folder")
    images = source_classes(source, classes)
    labels = tuple(images)
    train, val, test = _split(images, seed, val_fraction, test_fraction)
    sample = [f for files in train.values() for f in files[:50]]
    if input_size is None:
        from PIL import Image

        sides = []
        for f in sample[:200]:
            with Image.open(f) as img:
                sides.append(min(img.size))
        input_size = int(min(32, max(8, min(sides))))
    mean, std = _statistics(sample, input_size)
    created = not target.exists()
    try:
        root = target / "data"
        for part, split in (("train", train), ("val", val)):
            for label, files in split.items():
                (root / part / label).mkdir(parents=True, exist_ok=True)
                for f in files:
                    shutil.copyfile(f, root / part / label / f.name)
        (root / "test").mkdir(parents=True)
        answers = []
        for index, (f, label, part) in enumerate(test):
            image = f"{index:05d}{f.suffix.lower()}"
            shutil.copyfile(f, root / "test" / image)
            answers.append((image, label, part))
        with (root / data_mod.ANSWERS).open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["image", "label", "part"])
            writer.writerows(answers)
        data_mod.write_manifest(root, labels)
        import torch

        torch.save(_centroid_weights(train, input_size, mean, std), target / "reference.pt")
        competition = name or target.resolve().name
        (target / "reference.py").write_text(REFERENCE_STUB.format(name=competition, size=input_size), encoding="utf-8")
        config = target / "pyproject.toml"
        config.write_text(_config_text(competition, Path(source), labels, mean, std, seed, rule), encoding="utf-8")
    except BaseException:
        if created:
            shutil.rmtree(target, ignore_errors=True)
        else:
            for child in target.iterdir():
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
        raise
    return Scaffold(root=target, config=config, reference=target / "reference.py", classes=labels,
                    train_images=sum(map(len, train.values())), val_images=sum(map(len, val.values())), test_images=len(test))
