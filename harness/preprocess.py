"""Preprocessing: the competition's default pipeline, a submission's own (rebuilt from data), the cache.

Every image a model sees is preprocessed here, never where submission code runs: a
submission's own `transform(input_size)` arrives as `A.to_dict` data and is rebuilt with
`A.from_dict` (applied in a limited child process, `harness.transform_runner`). The held-out images are decoded once per
(data set, input size, pipeline) and cached as one .npy file.

Example:
    >>> pipeline = default_transform((28, 28), (0.5,) * 3, (0.5,) * 3)
    >>> check_pipeline(pipeline, np.zeros((32, 32, 3), dtype=np.uint8), (28, 28)) is None
    True
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from harness import cache
from harness.errors import DataError, SubmissionError

if TYPE_CHECKING:
    from harness.data import Dataset


def load_image(path: Path, data: bytes | None = None) -> np.ndarray:
    """Decode one image as RGB uint8 H x W x 3 (grayscale becomes 3 equal channels); from `data` when given."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path if data is None else io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"cannot decode image {path}: {e}") from None


def default_transform(input_size: tuple[int, int], mean, std):
    """The competition's preprocessing: resize to `input_size`, normalise with mean/std."""
    import albumentations as A

    return A.Compose([A.Resize(int(input_size[0]), int(input_size[1])), A.Normalize(mean=mean, std=std, max_pixel_value=255.0)])


def transform_images(
    paths: Sequence[Path],
    transform: Callable,
    on_advance: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Decode and transform images into a float32 N x 3 x H x W array."""
    out = None
    for i, path in enumerate(paths):
        image = transform(image=load_image(path))["image"]
        image = np.asarray(image, dtype=np.float32)
        if image.ndim != 3 or image.shape[2] != 3:
            raise DataError(f"the transform returned shape {image.shape} for {path}; expected H x W x 3")
        if out is None:
            out = np.empty((len(paths), 3, image.shape[0], image.shape[1]), dtype=np.float32)
        if image.shape[:2] != out.shape[2:]:
            raise DataError(f"the transform returned {image.shape[:2]} for {path}, not {out.shape[2:]} like the others")
        out[i] = image.transpose(2, 0, 1)
        if on_advance:
            on_advance(1)
    if out is None:
        raise DataError("no images to transform")
    return out


def cache_dir() -> Path:
    """Where preprocessed test tensors are cached: $HARNESS_CACHE or ~/.cache/harness."""
    return Path(os.environ.get("HARNESS_CACHE") or Path.home() / ".cache" / "harness")


def usable_tensor(path: Path, count: int, input_size: tuple[int, int]) -> bool:
    """True when `path` holds a readable N x 3 x H x W array for this split and size."""
    try:
        arr = np.load(path, mmap_mode="r")
    except (ValueError, OSError):
        return False
    return arr.shape == (count, 3, *input_size)


def cache_path(paths: Sequence[Path], dataset_sha256: str, part: str, input_size: tuple[int, int], pipeline_key: str) -> Path:
    """Where `cached_tensor` keeps the images of one part under one pipeline."""
    key = hashlib.sha256(json.dumps([dataset_sha256, part, len(paths), list(input_size), pipeline_key, "v2"]).encode()).hexdigest()[:24]
    return cache_dir() / f"{part}-{input_size[0]}x{input_size[1]}-{key}.npy"


def cached_tensor(
    paths: Sequence[Path],
    dataset_sha256: str,
    part: str,
    input_size: tuple[int, int],
    pipeline_key: str,
    make_pipeline: Callable[[], Callable],
    on_advance: Callable[[int], None] | None = None,
    verify: bool = True,
) -> tuple[Path, bool]:
    """Images of one part under a preprocessing pipeline, decoded once and cached.

    Keyed by (data set manifest, part, image count, input size, `pipeline_key`): a changed
    data set has a new manifest and so a new key. `make_pipeline` is only called on a
    miss, so a warm cache never imports albumentations. Returns (the .npy file, whether
    it was a hit). Each file is verified against its stored digest before use and the
    cache is kept under its size cap (`harness.cache`); `verify=False` leaves the check
    to the caller (`cache.verified_copy`), off the critical path. A missing file is
    decoded once under a lock, by parallel decoders, without holding the whole array in
    memory, and its digest recorded before it appears (`harness.decode`).
    """
    path = cache_path(paths, dataset_sha256, part, input_size, pipeline_key)

    def current() -> bool:  # (a damaged or tampered cache file fails its digest and is rebuilt)
        return path.is_file() and (cache.is_intact(path) if verify else cache.has_digest(path)) and usable_tensor(path, len(paths), tuple(input_size))

    from harness.decode import write_images_npy

    written = write_images_npy(path, paths, make_pipeline, current, on_advance,  # checked and written under a lock
                               before_publish=lambda built: cache.store_digest(path, built))
    if written:
        cache.evict(path.parent, cache.limit_bytes(), keep=path)
    return path, not written


def cached_test_tensor(dataset: Dataset, input_size: tuple[int, int], pipeline: Callable, pipeline_key: str,
                       on_advance: Callable[[int], None] | None = None) -> tuple[Path, bool]:
    """The held-out images under `pipeline` (see `cached_tensor`)."""
    return cached_tensor(dataset.test_images, dataset.manifest_sha256, "test", input_size, pipeline_key, lambda: pipeline, on_advance)


def pipeline_key(transform: dict | None, mean, std) -> str:
    """What identifies a preprocessing: the default's mean and std, or a submission's `A.to_dict`."""
    return json.dumps(["default", list(mean), list(std)] if transform is None else transform, sort_keys=True)


def rebuild_transform(transform: dict):
    """A submission's own preprocessing, rebuilt here from its `A.to_dict` data.

    Only albumentations' registered transforms can be rebuilt: nothing of the
    submission's code crosses over. Raises SubmissionError saying what to use instead.
    """
    import warnings

    import albumentations as A

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return A.from_dict(transform)
    except Exception as e:
        name = str(e).strip("'\"")[:80]
        raise SubmissionError(
            f"transform(input_size) cannot be rebuilt outside the submission's process ({type(e).__name__}: {name}); "
            "use albumentations' own transforms (no A.Lambda, no custom classes)") from None


GEOMETRIC_TRANSFORMS = frozenset("""Compose Sequential Resize LongestMaxSize SmallestMaxSize CenterCrop Crop PadIfNeeded
    Pad HorizontalFlip VerticalFlip Transpose Normalize ToGray ToRGB ToFloat FromFloat""".split())
"""The albumentations transforms a pipeline may use: geometry, normalisation, grayscale, type conversion.

A filter (blur, sharpen, emboss, convolution, CLAHE, ...) is compute nobody counts: the parent
would run it for the model. Random transforms are refused too (preprocessing must be deterministic)."""


def refused_transform(pipeline) -> str | None:
    """The first transform of `pipeline` that is not geometric or normalising, with the reason; None when all are.

    >>> import albumentations as A
    >>> refused_transform(A.Compose([A.Resize(28, 28), A.Normalize()])) is None
    True
    >>> refused_transform(A.Compose([A.Resize(28, 28), A.Sharpen(p=1.0)]))[:42]
    'transform(input_size) uses A.Sharpen: only'
    """
    todo = [pipeline]
    while todo:
        t = todo.pop(0)
        name = type(t).__name__
        if name not in GEOMETRIC_TRANSFORMS:
            return (f"transform(input_size) uses A.{name}: only geometric and normalising transforms are allowed "
                    f"({', '.join(sorted(GEOMETRIC_TRANSFORMS - {'Compose', 'Sequential'}))}); a filter is compute "
                    "that no counter sees, so do it in a counted layer of the model")
        todo.extend(getattr(t, "transforms", None) or [])
    return None


def check_pipeline(pipeline: Callable, sample: np.ndarray, input_size: tuple[int, int]) -> str | None:
    """Run a submission's preprocessing on one raw image; the reason when its output is unusable or it filters."""
    refused = refused_transform(pipeline)
    if refused:
        return refused
    try:
        out = np.asarray(pipeline(image=sample)["image"])
    except Exception as e:
        return f"transform(input_size) pipeline raised {type(e).__name__}: {str(e)[:120]}"
    if out.shape != (*input_size, 3):
        return f"transform(input_size) produced shape {out.shape}; expected {(*input_size, 3)} (H x W x 3)"
    if out.dtype != np.float32:
        return f"transform(input_size) produced dtype {out.dtype}; expected float32 (include A.Normalize)"
    return None
