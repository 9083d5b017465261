"""The photo-scale benchmark's scripts, run for real at a tiny size: the generator and `harness init`, the peer, the bench."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=str(ROOT), NO_ALBUMENTATIONS_UPDATE="1")


def run(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=ENV, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_the_photo_competition_and_the_peer_script(tmp_path):
    out = run("benchmarks/photo_competition.py", str(tmp_path), "--images", "36")
    assert "36 JPEGs of 384x288" in out
    sizes = [p.stat().st_size for p in (tmp_path / "photos").rglob("*.jpg")]
    assert len(sizes) == 36 and 20_000 < sum(sizes) / len(sizes) < 45_000  # photo-like: about 31 KB each
    competition = tmp_path / "competition"
    tests = sorted((competition / "data" / "test").iterdir())
    assert len(tests) == 18 and (competition / "mobilenet96.pt").is_file()  # 2 of the 4 images per class held out
    result = json.loads(run("benchmarks/peer_eval.py", str(competition / "mobilenet96.py"), "--config",
                            str(competition / "pyproject.toml")).strip().splitlines()[-1])
    assert result["images"] == 18 and result["macs"] > 10_000_000 and 0.0 <= result["f1"] <= 1.0  # mobilenet_v3_small at 96 px: 11.8M


@pytest.mark.bench  # about fifteen evaluations: `make bench-smoke`, not `make test`
def test_the_photo_benchmark_prints_every_figure(tmp_path):
    out = run("benchmarks/bench_photo.py", "--images", "36", "--repeats", "1", "--memory", "--memory-images", "20")
    for line in ("init ", "reference --write", "cold ", "warm ", "peer, 2 workers", "peer, 0 workers", "ms per image",
                 "--jobs 2", "peak RSS at 20 test images, 224 px", "parent "):
        assert line in out, out
    assert out.count("ms per image") == 3
