"""A photo-like competition at the scale of the 2021 one: seeded JPEGs, `harness init`, a submission.

Generates `--images` (default 9,900) photo-like JPEGs, 384 x 288, 9 classes, about 31 KB
each, in FOLDER/<class>/, runs `harness init` on them (30% held out, 15% validation)
and writes a submission: torchvision's `mobilenet_v3_small` at 96 x 96 with seeded random
weights. Each class has its own palette and blob layout under smooth noise and grain, so
the files compress like photos rather than like flat synthetic images.

Run: `.venv/bin/python benchmarks/photo_competition.py DIR [--images N]`; the
benchmark `bench_photo.py` calls `make_photos` and `make_submission` itself.

Example:
    >>> import tempfile
    >>> folder = make_photos(Path(tempfile.mkdtemp()) / "photos", 18)
    >>> sorted(p.name for p in folder.iterdir())[:2], len(list(folder.rglob("*.jpg")))
    (['0', '1'], 18)
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

CLASSES = 9
WIDTH, HEIGHT = 384, 288
SUBMISSION = '''"""mobilenet_v3_small at 96 x 96, seeded random weights (a benchmark submission)."""
from pathlib import Path

import torch
from torchvision.models import mobilenet_v3_small

INPUT_SIZE = ({size}, {size})
TEAM = "{team}"


def build_model():
    model = mobilenet_v3_small(num_classes={classes})
    model.load_state_dict(torch.load(Path(__file__).with_suffix(".pt"), map_location="cpu", weights_only=True))
    return model.eval()
'''


def photo(rng: np.random.Generator, label: int) -> np.ndarray:
    """One 288 x 384 RGB photo-like image of class `label`: smooth field, class blobs, grain."""
    from PIL import Image

    coarse = rng.random((9, 12, 3)) * 0.6 + np.array(np.random.default_rng(label).random(3)) * 0.4
    field = np.asarray(Image.fromarray((coarse * 255).astype(np.uint8)).resize((WIDTH, HEIGHT), Image.BICUBIC), dtype=np.float32)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    shape_rng = np.random.default_rng(1000 + label)
    for _ in range(1 + label % 4):
        cy, cx = shape_rng.random(2) * (HEIGHT, WIDTH) + rng.normal(0, 20, 2)
        radius = 25 + 40 * shape_rng.random()
        colour = shape_rng.random(3) * 255
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2) < radius ** 2
        field[mask] = 0.3 * field[mask] + 0.7 * colour
    field += rng.normal(0, 11, field.shape).astype(np.float32)
    return np.clip(field, 0, 255).astype(np.uint8)


def make_photos(folder: Path, images: int = 9900, seed: int = 0, quality: int = 85) -> Path:
    """Write `images` seeded JPEGs into `folder`/<class>/, as evenly over 9 classes as possible."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(images):
        label = i % CLASSES
        target = Path(folder) / str(label)
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo(rng, label)).save(target / f"{i:05d}.jpg", quality=quality)
    return Path(folder)


def make_submission(folder: Path, name: str = "mobilenet96", size: int = 96, seed: int = 0) -> Path:
    """Write `folder`/`name`.py and its .pt: mobilenet_v3_small at `size` x `size`, seeded random weights."""
    import torch
    from torchvision.models import mobilenet_v3_small

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(mobilenet_v3_small(num_classes=CLASSES).state_dict(), folder / f"{name}.pt")
    path = folder / f"{name}.py"
    path.write_text(SUBMISSION.format(size=size, team=name, classes=CLASSES))
    return path


def main() -> None:
    import subprocess
    import sys

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="new folder: photos/ and competition/ go inside")
    parser.add_argument("--images", type=int, default=9900)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    photos = make_photos(args.folder / "photos", args.images, args.seed)
    sizes = [p.stat().st_size for p in photos.rglob("*.jpg")]
    print(f"{len(sizes):,} JPEGs of {WIDTH}x{HEIGHT} in {photos}, {np.mean(sizes) / 1000:.1f} KB each on average")
    harness = Path(sys.executable).with_name("harness")
    subprocess.run([str(harness), "init", str(args.folder / "competition"), "--from", str(photos)], check=True)
    print(f"submission: {make_submission(args.folder / 'competition')}")


if __name__ == "__main__":
    main()
