"""The shared decoded cache: identical to the one-by-one pipeline, written once under concurrency, never torn."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness import cache, preprocess
from harness.decode import write_images_npy
from harness.errors import DataError

ROOT = Path(__file__).resolve().parent.parent
MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


def photos(folder: Path, count: int, size=(96, 72)) -> list[Path]:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{i:03d}.jpg"
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path, quality=85)
        paths.append(path)
    return paths


def test_parallel_cache_equals_the_sequential_pipeline(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    paths = photos(tmp_path / "img", 40)
    pipeline = preprocess.default_transform((24, 32), MEAN, STD)
    expected = preprocess.transform_images(paths, pipeline)
    steps = []
    path, hit = preprocess.cached_tensor(paths, "sha", "test", (24, 32), "k", lambda: pipeline, steps.append)
    assert not hit and sum(steps) == 40
    assert np.array_equal(np.load(path), expected)  # bit-identical: parallel decoding changes nothing
    assert preprocess.cached_tensor(paths, "sha", "test", (24, 32), "k", lambda: 1 / 0) == (path, True)  # no pipeline on a hit
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, f"{path.name}.sha256", f".{path.name}.lock"])
    assert cache.is_intact(path)  # its digest was recorded before it appeared


def test_a_failed_decode_leaves_no_file(tmp_path):
    paths = photos(tmp_path / "img", 20)
    paths[17].write_bytes(b"not an image")
    target = tmp_path / "cache" / "x.npy"
    pipeline = preprocess.default_transform((8, 8), MEAN, STD)
    with pytest.raises(DataError, match="cannot decode image .*017.jpg"):
        write_images_npy(target, paths, lambda: pipeline, lambda: False, workers=2)
    assert [p.name for p in target.parent.iterdir()] == [".x.npy.lock"]  # no torn .npy, no leftover .part


WRITER = """
import json, sys, time
from pathlib import Path
from harness import cache, preprocess
paths = sorted(Path(sys.argv[1]).glob("*.jpg"))
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.005)
pipeline = preprocess.default_transform((48, 48), (0.4, 0.5, 0.6), (0.2, 0.25, 0.3))
path, hit = preprocess.cached_tensor(paths, "sha", "test", (48, 48), "k", lambda: pipeline)
print(json.dumps({"path": str(path), "hit": hit}))
"""


@pytest.mark.slow
def test_two_concurrent_writers_write_the_cache_once(tmp_path):
    folder = tmp_path / "img"
    paths = photos(folder, 120, (384, 288))
    env = dict(os.environ, HARNESS_CACHE=str(tmp_path / "cache"), PYTHONPATH=str(ROOT), NO_ALBUMENTATIONS_UPDATE="1")
    start = time.time() + 8  # both are past their imports by then: they race for the same file
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(folder), str(start)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(r["hit"] for r in results) == [False, True]  # one decoded it, the other waited and reused it
    assert results[0]["path"] == results[1]["path"]
    cached = Path(results[0]["path"])
    assert sorted(p.name for p in cached.parent.iterdir()) == sorted([cached.name, f"{cached.name}.sha256", f".{cached.name}.lock"])
    assert cache.is_intact(cached)
    expected = preprocess.transform_images(paths, preprocess.default_transform((48, 48), (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)))
    assert np.array_equal(np.load(cached), expected)
