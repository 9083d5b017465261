"""Seeded training recipes for the reference and the example submissions.

    python baselines/train.py reference          # writes baselines/reference.pt
    python baselines/train.py team4 team7        # writes submissions/team4.pt, team7.pt

Each recipe imports the submission's `make_model()`, trains on train/ (selecting
the epoch with the best macro-F1 on val/), and saves the state dict next to the
submission file. Runs in about a minute per model on a 2-core CPU. The held-out
test/ split and its answer key are never read here.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # a script, run from anywhere: find the harness package

from harness.config import load_config  # noqa: E402
from harness.data import default_transform, ensure_split, transform_images  # noqa: E402
from harness.metrics import macro_f1  # noqa: E402
from harness.submission import load_submission  # noqa: E402


@dataclass(frozen=True)
class Recipe:
    submission: Path
    epochs: int = 30
    lr: float = 3e-3
    batch_size: int = 64
    seed: int = 0


RECIPES = {
    "reference": Recipe(ROOT / "baselines" / "reference.py", epochs=40),
    "team4": Recipe(ROOT / "submissions" / "team4.py", epochs=60),
    "team7": Recipe(ROOT / "submissions" / "team7.py", epochs=60),
}


def load_split(part: str, input_size, cfg):
    paths, labels = ensure_split(cfg.data_dir, part, cfg.classes)
    x = transform_images(paths, default_transform(input_size, cfg.mean, cfg.std))
    return torch.from_numpy(x), torch.from_numpy(labels)


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 2 pixels (pad with the background, random crop)."""
    n, _, h, w = x.shape
    background = x.amin(dim=(1, 2, 3), keepdim=True)
    padded = torch.nn.functional.pad(x - background, (2, 2, 2, 2)) + background
    dy, dx = torch.randint(0, 5, (2,), generator=generator).tolist()
    return padded[:, :, dy:dy + h, dx:dx + w]


def train(name: str, recipe: Recipe) -> Path:
    cfg = load_config()
    sub = load_submission(recipe.submission)
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    model = sub.module.make_model(cfg.num_classes)
    x_train, y_train = load_split("train", sub.input_size, cfg)
    x_val, y_val = load_split("val", sub.input_size, cfg)
    # inverse-frequency class weights: the classes are long-tailed and macro-F1 weighs them equally
    counts = torch.bincount(y_train, minlength=cfg.num_classes).float()
    loss_fn = nn.CrossEntropyLoss(weight=counts.sum() / (cfg.num_classes * counts))
    optimiser = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=1e-4)
    steps = recipe.epochs * ((len(x_train) + recipe.batch_size - 1) // recipe.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=recipe.lr, total_steps=steps)
    best_f1, best_state = -1.0, None
    start = time.time()
    for epoch in range(recipe.epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        for i in range(0, len(order), recipe.batch_size):
            idx = order[i:i + recipe.batch_size]
            loss = loss_fn(model(augment(x_train[idx], generator)), y_train[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        model.eval()
        with torch.no_grad():
            f1 = macro_f1(y_val.numpy(), model(x_val).argmax(1).numpy())
        if f1 >= best_f1:
            best_f1, best_state = f1, {k: v.clone() for k, v in model.state_dict().items()}
        print(f"{name} epoch {epoch + 1:2d}/{recipe.epochs} val macro-F1 {f1:.4f} ({time.time() - start:.0f}s)")
    out = recipe.submission.with_suffix(".pt")
    torch.save(best_state, out)
    print(f"{name}: best val macro-F1 {best_f1:.4f}, weights -> {out.relative_to(ROOT)}")
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
