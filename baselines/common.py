"""Shared pieces of the training recipes: data, augmentation, a seeded fit loop.

Only train/ and val/ are read; the held-out test split and its answer key never are.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the recipes are scripts: find the harness package from anywhere

from harness.config import load_config  # noqa: E402
from harness.data import ensure_split  # noqa: E402
from harness.preprocess import default_transform, transform_images  # noqa: E402
from harness.metrics import macro_f1  # noqa: E402
from harness.submission import load_submission  # noqa: E402

__all__ = ["ROOT", "load_config", "load_submission", "load_split", "fit", "evaluate_f1", "class_weights"]


def load_split(part: str, input_size, cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """train/ or val/ preprocessed exactly as the harness preprocesses test images."""
    paths, labels = ensure_split(cfg.data_dir, part, cfg.classes)
    x = transform_images(paths, default_transform(input_size, cfg.mean, cfg.std))
    return torch.from_numpy(x), torch.from_numpy(labels)


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 2 pixels (pad with the background, random crop)."""
    _, _, h, w = x.shape
    background = x.amin(dim=(1, 2, 3), keepdim=True)
    padded = torch.nn.functional.pad(x - background, (2, 2, 2, 2)) + background
    dy, dx = torch.randint(0, 5, (2,), generator=generator).tolist()
    return padded[:, :, dy:dy + h, dx:dx + w]


def class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Inverse-frequency weights: the classes are long-tailed and macro-F1 weighs them equally."""
    counts = torch.bincount(labels, minlength=num_classes).float()
    return counts.sum() / (num_classes * counts)


def evaluate_f1(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        logits = model(x)
        return macro_f1(y.numpy(), logits.argmax(1).numpy(), logits.shape[1])


def fit(
    name: str,
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    epochs: int,
    lr: float,
    seed: int = 0,
    batch_size: int = 64,
    loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    after_step: Callable[[nn.Module], None] | None = None,
) -> tuple[dict, float]:
    """Seeded AdamW + one-cycle training; returns (best state dict on val macro-F1, that F1).

    `loss_fn(logits, labels, inputs)` defaults to class-weighted cross-entropy;
    `after_step(model)` runs after every optimiser step (e.g. to re-apply a pruning mask).
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x_train, y_train = train
    weights = class_weights(y_train, int(y_train.max()) + 1)
    cross_entropy = nn.CrossEntropyLoss(weight=weights)
    loss_fn = loss_fn or (lambda logits, labels, _inputs: cross_entropy(logits, labels))
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(x_train) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps)
    best_f1, best_state = -1.0, None
    start = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            inputs = augment(x_train[idx], generator)
            loss = loss_fn(model(inputs), y_train[idx], inputs)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            if after_step:
                after_step(model)
        f1 = evaluate_f1(model, *val)
        if f1 >= best_f1:
            best_f1, best_state = f1, {k: v.clone() for k, v in model.state_dict().items()}
        print(f"{name} epoch {epoch + 1:2d}/{epochs} val macro-F1 {f1:.4f} ({time.time() - start:.0f}s)")
    return best_state, best_f1
