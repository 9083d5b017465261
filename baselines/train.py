"""Seeded training recipes for the reference and the example submissions.

    python baselines/train.py reference          # writes baselines/reference.pt
    python baselines/train.py team4 team7        # writes submissions/team4.pt, team7.pt

Each recipe imports the submission's `make_model()`, trains on train/ (keeping the
epoch with the best macro-F1 on val/) and saves the state dict next to the
submission. About a minute per model on a 2-core CPU. The compression techniques
live in `baselines/zoo.py`.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from common import ROOT, fit, load_config, load_split, load_submission


@dataclass(frozen=True)
class Recipe:
    submission: Path
    epochs: int = 30
    lr: float = 3e-3
    seed: int = 0


RECIPES = {
    "reference": Recipe(ROOT / "baselines" / "reference.py", epochs=40),
    "team4": Recipe(ROOT / "submissions" / "team4.py", epochs=60),
    "team7": Recipe(ROOT / "submissions" / "team7.py", epochs=60),
}


def train(name: str, recipe: Recipe) -> Path:
    cfg = load_config(ROOT / "pyproject.toml")
    sub = load_submission(recipe.submission)
    torch.manual_seed(recipe.seed)
    model = sub.module.make_model(cfg.num_classes)
    state, f1 = fit(name, model, load_split("train", sub.input_size, cfg), load_split("val", sub.input_size, cfg),
                    recipe.epochs, recipe.lr, recipe.seed)
    out = recipe.submission.with_suffix(".pt")
    torch.save(state, out)
    print(f"{name}: best val macro-F1 {f1:.4f}, weights -> {out.relative_to(ROOT)}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipes", nargs="+", choices=sorted(RECIPES))
    args = parser.parse_args()
    torch.set_num_threads(2)
    for name in args.recipes:
        train(name, RECIPES[name])


if __name__ == "__main__":
    main()
