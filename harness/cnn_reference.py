"""`harness init --reference cnn`: a small CNN reference trained on the train split, seeded.

Three conv blocks (16, 32, 64 channels, BatchNorm, ReLU, max-pooling), global average
pooling and one linear head: every layer is one ptflops counts and the clean rebuild
knows. Trained with Adam and class-weighted cross-entropy (long-tailed classes count
alike, as macro-F1 does) on the images preprocessed exactly as the harness preprocesses
them, for `epochs_for(n)` epochs: about a minute on 2 CPU cores at 32 px whatever the
data set's size, and the same weights for the same seed.

Usage:
    state = train_cnn(train_images, size=32, mean=[0.5] * 3, std=[0.25] * 3, seed=0)
    torch.save(state, "reference.pt")   # next to CNN_STUB written as reference.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness import preprocess

SAMPLES = 60_000
"""Training samples seen in all (epochs x images), which bounds the time."""
CNN_STUB = '''"""The reference of the {name} competition, written by `harness init --reference cnn`: a small CNN.

Trained by `harness init` on the train split (seeded). Replace it with a stronger model if
you like (any number of classes: it is read from the weights) and run `harness reference --write`.
"""
from pathlib import Path

import torch
from torch import nn

INPUT_SIZE = ({size}, {size})
TEAM = "reference"


def make_model(num_classes: int) -> nn.Module:
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(*block(3, 16), nn.MaxPool2d(2), *block(16, 32), nn.MaxPool2d(2), *block(32, 64),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes))


def build_model() -> nn.Module:
    state = torch.load(Path(__file__).with_suffix(".pt"), map_location="cpu", weights_only=True)
    model = make_model(num_classes=state["13.weight"].shape[0])
    model.load_state_dict(state)
    return model.eval()
'''


def epochs_for(images: int) -> int:
    """Epochs so that about SAMPLES images are seen, between 3 and 60.

    >>> epochs_for(300), epochs_for(100_000)
    (60, 3)
    """
    return int(min(60, max(3, SAMPLES // max(1, images))))


def make_model(num_classes: int):
    """The architecture of CNN_STUB (the two must agree)."""
    namespace: dict = {}
    exec(compile(CNN_STUB.format(name="", size=32), "<cnn reference>", "exec"), namespace)
    return namespace["make_model"](num_classes)


def train_cnn(train: dict[str, list[Path]], size: int, mean, std, seed: int = 0) -> dict:
    """The trained state dict of the CNN on `train` (class -> image files, in class order)."""
    import torch
    from torch import nn

    transform = preprocess.default_transform((size, size), mean, std)
    xs, ys = [], []
    for label, files in enumerate(train.values()):
        xs.append(preprocess.transform_images(files, transform))
        ys += [label] * len(files)
    x = torch.tensor(np.concatenate(xs), dtype=torch.float32)  # N x 3 x H x W
    y = torch.tensor(ys)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = make_model(len(train))
    counts = torch.bincount(y, minlength=len(train)).clamp(min=1).float()
    loss_fn = nn.CrossEntropyLoss(weight=counts.sum() / counts / len(train))
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    epochs = epochs_for(len(y))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=epochs * ((len(y) + 63) // 64))
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(y), generator=generator).split(64):
            optimiser.zero_grad()
            loss_fn(model(x[batch]), y[batch]).backward()
            optimiser.step()
            schedule.step()
    return model.eval().state_dict()
