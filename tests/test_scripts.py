"""Every script in benchmarks/ and examples/ runs, at a tiny size, so none can rot unnoticed."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT

SCRIPTS = sorted(p.relative_to(ROOT).as_posix() for folder in ("benchmarks", "examples") for p in (ROOT / folder).glob("*.py"))
TINY = {
    "benchmarks/bench_forecast.py": (["--teams", "3", "--images", "200", "--draws", "20", "--repeat", "1"], "forecast, 20 draws"),
    "benchmarks/calibration_worlds.py": (["--worlds", "2", "--draws", "20", "--images", "120"], "the 20-entry team: mean P(rank 1)"),
    "benchmarks/bench_evaluate.py": (["--images", "40", "--repeats", "1"], "fixed start-up of evaluate"),
    "examples/simulate_competition.py": (["--days", "1", "--per-day", "2", "--out", "{tmp}"], "private board"),
}
SLOW = {"benchmarks/bench_evaluate.py", "examples/simulate_competition.py"}  # they start workers
ELSEWHERE = {  # the photo-scale benchmark's scripts have their own tiny runs, sharing one generated competition
    "benchmarks/photo_competition.py": "tests/test_bench_photo.py",
    "benchmarks/peer_eval.py": "tests/test_bench_photo.py",
    "benchmarks/bench_photo.py": "tests/test_bench_photo.py",
}


def test_every_script_has_a_tiny_run():
    assert sorted([*TINY, *ELSEWHERE]) == SCRIPTS
    assert all((ROOT / test).is_file() for test in ELSEWHERE.values())


@pytest.mark.parametrize("script", [pytest.param(s, marks=pytest.mark.slow) if s in SLOW else s for s in TINY])
def test_the_script_runs_at_a_tiny_size(script, tmp_path):
    args, expected = TINY[script]
    env = dict(os.environ, PYTHONPATH=str(ROOT), HARNESS_CACHE=str(tmp_path / "cache"), TMPDIR=str(tmp_path))
    done = subprocess.run([sys.executable, str(ROOT / script), *[a.format(tmp=tmp_path / "out") for a in args]],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert expected in done.stdout
