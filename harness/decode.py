"""Decoding many images into one .npy file: in parallel, streamed to disk, written once.

The parent decodes the held-out images of every new (data set, input size, pipeline).
Three things keep that cheap at the scale of thousands of photos:

- the images are decoded by a pool of threads, one per core: Pillow's JPEG/PNG decoders
  and OpenCV's resize release the GIL, so threads scale without a process pool's start-up
  (imports) or pickling of the pipeline;
- each image is written to its place in the file as soon as it is ready (`os.pwrite`),
  so the parent never holds the whole float32 array (10,000 images at 224 px are 6 GB);
- the file is built under an exclusive lock next to it and renamed into place, so two
  evaluations that need the same tensor at once decode it once, and a reader never sees
  half a file.

Example:
    >>> import tempfile
    >>> from PIL import Image
    >>> folder = Path(tempfile.mkdtemp())
    >>> paths = [folder / f"{i}.png" for i in range(3)]
    >>> for i, p in enumerate(paths):
    ...     Image.new("RGB", (5, 4), (i, i, i)).save(p)
    >>> scale = lambda image: {"image": image.astype(np.float32) / 255}
    >>> target = folder / "x.npy"
    >>> write_images_npy(target, paths, lambda: scale, lambda: False) and np.load(target).shape
    (3, 3, 4, 5)
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from harness.errors import DataError

CHUNK = 16  # images per task: small enough for smooth progress, large enough to amortise the hand-off


def decode_workers() -> int:
    """Threads that decode: $HARNESS_DECODE_WORKERS, else the cores this process may use (at most 8)."""
    if os.environ.get("HARNESS_DECODE_WORKERS", "").isdigit():
        return max(1, int(os.environ["HARNESS_DECODE_WORKERS"]))
    return max(1, min(8, len(os.sched_getaffinity(0))))


def chw_image(path: Path, transform: Callable) -> np.ndarray:
    """One image decoded and transformed, as float32 3 x H x W (DataError when the transform's output is not H x W x 3)."""
    from harness.preprocess import load_image

    image = np.asarray(transform(image=load_image(path))["image"], dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise DataError(f"the transform returned shape {image.shape} for {path}; expected H x W x 3")
    return np.ascontiguousarray(image.transpose(2, 0, 1))


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`'s companion `.lock` file (between processes and between threads)."""
    lock = path.with_name(f".{path.name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _fill(fd: int, offset: int, paths: Sequence[Path], transform: Callable, first: np.ndarray,
          on_advance: Callable[[int], None] | None, workers: int) -> None:
    row = first.nbytes

    def chunk(start: int) -> int:
        for i in range(start, min(start + CHUNK, len(paths))):
            image = first if i == 0 else chw_image(paths[i], transform)
            if image.shape != first.shape:
                raise DataError(f"the transform returned {image.shape[1:]} for {paths[i]}, not {first.shape[1:]} like the others")
            os.pwrite(fd, image.tobytes(), offset + i * row)
        return min(CHUNK, len(paths) - start)

    starts = range(0, len(paths), CHUNK)
    if workers == 1 or len(paths) <= CHUNK:
        done = map(chunk, starts)
        for n in done:
            if on_advance:
                on_advance(n)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="harness-decode") as pool:
        futures = [pool.submit(chunk, s) for s in starts]
        try:
            for future in futures:
                n = future.result()
                if on_advance:
                    on_advance(n)
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def write_images_npy(path: Path, paths: Sequence[Path], make_transform: Callable[[], Callable], is_current: Callable[[], bool],
                     on_advance: Callable[[int], None] | None = None, workers: int | None = None,
                     before_publish: Callable[[Path], None] | None = None) -> bool:
    """Decode `paths` through `make_transform()` into the .npy file `path` (N x 3 x H x W float32), once.

    Under `path`'s lock: when `is_current()` already holds (another process or thread
    wrote it meanwhile) nothing is done and False is returned; otherwise the images are
    decoded by `workers` threads into a temporary file beside `path`, `before_publish`
    is called with that complete file (to record its digest), it is renamed over `path`,
    and True is returned.
    """
    path = Path(path)
    if not paths:
        raise DataError("no images to transform")
    with exclusive(path):
        if is_current():
            return False
        transform = make_transform()  # only on a miss: a warm cache never imports albumentations
        first = chw_image(paths[0], transform)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb", closefd=False) as header:
                np.lib.format.write_array_header_1_0(header, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                                                              "fortran_order": False, "shape": (len(paths), *first.shape)})
                offset = header.tell()
            os.ftruncate(fd, offset + len(paths) * first.nbytes)
            _fill(fd, offset, paths, transform, first, on_advance, workers or decode_workers())
            os.fchmod(fd, 0o644)
            os.fsync(fd)
            os.close(fd)
            fd = -1
            if before_publish:
                before_publish(Path(tmp))
            os.replace(tmp, path)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            Path(tmp).unlink(missing_ok=True)
            raise
    return True
