"""A competitor's starting kit: what a host can publish as it is, and how a kit knows itself.

`cut_kit` writes, into a new folder::

    pyproject.toml      [tool.harness] with kit = true, the identity name@hash of the competition
                        it was cut from, the public values and the pinned package versions
    requirements.txt    the exact versions of the packages that decide the count and the verdict
    README.md           what a competitor does with it
    reference.py/.pt    the reference submission and its same-stem files
    data/train, data/val, data/manifest.json (train/val only; it records the identity too)

Nothing secret: no test images, no answer key, no board, picks or backups, no private
reference values. In a kit, `check` and `evaluate --split val` score on data/val.

Usage:
    kit = cut_kit(load_config(Path("pyproject.toml")), Path("/tmp/kit"))
    kit.identity, "data/answers.csv" in kit.files      # ('mnist9-longtail@12923299ae1e', False)
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from harness.config import Competition, rule_lines
from harness.data import competition_identity, dataset_problems, ensure_dataset, write_manifest
from harness.errors import ConfigError, DataError
from harness.isolation import submission_files
from harness.leaderboard import SPLITS, Entry, Split, board_split

PINNED_PACKAGES = ("torch", "torchvision", "ptflops", "albumentations", "harness")
"""The packages whose versions decide the count and the verdict."""


@dataclass(frozen=True)
class Kit:
    """A kit written by `cut_kit`: where, the identity it records, and every file it holds (relative, sorted)."""

    root: Path
    identity: str
    files: tuple[str, ...]


def installed_versions(packages: tuple[str, ...] = PINNED_PACKAGES) -> dict[str, str]:
    """The installed version of each package ("not installed" when absent).

    >>> installed_versions(("ptflops",))
    {'ptflops': '0.7.5'}
    """
    found = {}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def version_differences(pins: tuple[tuple[str, str], ...], installed: dict[str, str] | None = None) -> list[str]:
    """One line per pinned package whose installed version differs from the kit's pin.

    >>> version_differences((("ptflops", "0.6.4"),), {"ptflops": "0.7.5"})
    ['ptflops 0.7.5 installed, the kit pins 0.6.4']
    """
    installed = installed if installed is not None else installed_versions(tuple(name for name, _ in pins))
    return [f"{name} {installed.get(name, 'not installed')} installed, the kit pins {pinned}"
            for name, pinned in pins if installed.get(name, "not installed") != pinned]


def resolve_split(split: str | None, cfg: Competition) -> Split:
    """The split `evaluate` scores on: as given, else "val" in a starting kit and "test" on the host."""
    if split is None:
        return "val" if cfg.kit else "test"
    if split not in SPLITS:
        raise ConfigError(f"--split: expected {' or '.join(SPLITS)}, got {split!r}")
    return split


def board_split_of(entries: list[Entry], cfg: Competition) -> Split:
    """What a board holds: its rows' split, else (an empty board) what `evaluate` would append to it."""
    return board_split(entries) or resolve_split(None, cfg)


def identity_of(cfg: Competition) -> str:
    """The competition's identity: recorded in a kit (`identity`), else the hash of the host's manifest and answer key."""
    return cfg.identity if cfg.kit else competition_identity(cfg.name, cfg.data_dir)


def identity_problem(cfg: Competition) -> str | None:
    """In a kit, a line when its data was cut from another competition than its configuration names; else None."""
    if not cfg.kit:
        return None
    try:
        recorded = json.loads((cfg.data_dir / "manifest.json").read_text()).get("identity")
    except (OSError, ValueError, AttributeError):
        recorded = None
    if recorded == cfg.identity:
        return None
    return (f"{cfg.data_dir / 'manifest.json'} was cut from competition {recorded or '(none recorded)'}, but {cfg.source} "
            f"names {cfg.identity}: these figures are for another competition's kit; use one kit as it was published")


def _toml(value) -> str:
    """A TOML value for a string, a number or a list of them (JSON's syntax is TOML's for these)."""
    return json.dumps(value)


def kit_config(cfg: Competition, identity: str, reference: str, pins: dict[str, str]) -> str:
    """The kit's pyproject.toml: the public part of the configuration, marked as a kit."""
    ref = cfg.reference
    lines = [
        "# A competitor's starting kit, cut by `harness kit` from the host's competition.",
        "# `harness check FILE` and `harness evaluate FILE --split val` work here; see README.md.",
        "[tool.harness]",
        f"name = {_toml(cfg.name)}",
        "kit = true",
        f"identity = {_toml(identity)}",
        'data = "data"',
        f"classes = {_toml(list(cfg.classes))}",
        f"mean = {_toml(list(cfg.mean))}",
        f"std = {_toml(list(cfg.std))}",
        f"reference = {_toml(reference)}",
        f"reference_macs = {ref.macs}",
        f"reference_f1 = {ref.f1:.6f}",
        f"profile = {_toml(cfg.profile)}",
        f"bootstrap_resamples = {cfg.bootstrap_resamples}",
        f"batch_size = {cfg.batch_size}",
        f"timeout_s = {cfg.limits.timeout_s}",
        f"memory_mb = {cfg.limits.memory_mb}",
        f"max_submission_mb = {cfg.max_submission_mb}",
        *rule_lines(cfg.rule),
        "pins = { " + ", ".join(f"{name} = {_toml(version)}" for name, version in pins.items()) + " }",
    ]
    return "\n".join(lines) + "\n"


def kit_requirements(pins: dict[str, str]) -> str:
    """requirements.txt: pip pins for the public packages; the harness's version as a comment (it is not on PyPI)."""
    lines = ["# The versions the host's counts and verdicts come from (harness kit)."]
    lines += [f"{name}=={version}" for name, version in pins.items() if name != "harness" and version != "not installed"]
    lines.append(f"# harness {pins.get('harness', 'unknown')}: install it from the host's source, not from PyPI")
    return "\n".join(lines) + "\n"


def kit_readme(cfg: Competition, identity: str, reference: str, train: bool) -> str:
    """The competitor's README: what is here and the three commands."""
    ref = cfg.reference
    data = "data/train/ and data/val/" if train else "data/val/ (the host left train/ out)"
    return f"""# Starting kit: {cfg.name}

Cut from competition `{identity}`: every row you score here records that identity.

- `{data}`: labelled images, one folder per class ({", ".join(cfg.classes)}).
- `{reference}`: the reference submission ({ref.macs:,} MACs, macro-F1 {ref.f1:.4f} on the public held-out part).
- `pyproject.toml`: the competition's public configuration: classes, mean and std, counting profile
  `{cfg.profile}`, limits, reference values and the pinned package versions.
- `requirements.txt`: the versions the host counts with; with others, `check` says which differ.

There are no held-out images here. In this folder:

    harness check my.py                           # contract, MACs (both profiles), verifier, validation F1 and score
    harness evaluate my.py --split val            # score on data/val and append to ./leaderboard.csv (validation board)
    harness leaderboard                           # your experiments, with 95% intervals
    harness history my --plot my.png              # one team's log over time

score = MACs/MACs_ref + F1 term, lower is better; the validation figures use the same formula and
the same reference values as the host's board, on data/val instead of the held-out images.
"""


def _copy_split(src: Path, dst: Path) -> None:
    if not src.is_dir():
        raise DataError(f"{src}: missing; the kit needs the competition's labelled images")
    shutil.copytree(src, dst)


def cut_kit(cfg: Competition, out: Path, train: bool = True) -> Kit:
    """Write a starting kit of `cfg`'s competition into the new folder `out` (see module docstring)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out} exists and is not empty; choose a new folder for the kit")
    if cfg.kit:
        raise DataError(f"{cfg.source} is a starting kit itself; cut kits from the host's competition")
    cfg.reference  # noqa: B018 - a ConfigError when no reference values are pinned yet
    if not cfg.reference_path.is_file():
        raise DataError(f"reference submission not found: {cfg.reference_path} ([tool.harness] reference)")
    ensure_dataset(cfg)
    identity = competition_identity(cfg.name, cfg.data_dir)
    pins = installed_versions()
    out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val") if train else ("val",):
        _copy_split(cfg.data_dir / split, out / "data" / split)
    write_manifest(out / "data", identity=identity)
    for file in submission_files(cfg.reference_path):
        shutil.copy2(file, out / file.name)
    reference = cfg.reference_path.name
    (out / "pyproject.toml").write_text(kit_config(cfg, identity, reference, pins), encoding="utf-8")
    (out / "requirements.txt").write_text(kit_requirements(pins), encoding="utf-8")
    (out / "README.md").write_text(kit_readme(cfg, identity, reference, train), encoding="utf-8")
    problems = dataset_problems(out / "data", cfg.classes, kit=True)
    if problems:
        raise DataError(f"the kit in {out} is not sound: {problems[0]}")
    files = tuple(sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()))
    return Kit(root=out, identity=identity, files=files)
