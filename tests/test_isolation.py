"""Untrusted code runs in a worker (sandboxed with bwrap when present); nothing is ever lost."""
import multiprocessing
import shutil
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import HERE, ROOT, json_of
from harness.errors import LeaderboardError
from harness.evaluate import new_entry
from harness.leaderboard import append_entry, read_entries
from harness.sandbox import bwrap_available as sandbox_available

pytestmark = pytest.mark.slow  # every test here starts isolated workers
BROKEN = HERE / "broken"
needs_sandbox = pytest.mark.skipif(not sandbox_available(), reason="bwrap (Debian package bubblewrap) is not installed or cannot run here")


def test_a_hanging_submission_is_killed_at_the_time_limit(invoke, write_config, tmp_path):
    lb = tmp_path / "lb.csv"
    result = invoke("evaluate", BROKEN / "hang.py", "--leaderboard", lb, "--config", write_config(timeout_s=8))
    assert result.exit_code != 0 and "time limit of 8 s" in result.output
    (row,) = read_entries(lb)
    assert row.status == "failed" and row.failure == "timeout"


def test_memory_limit(invoke, write_config, tmp_path):
    lb = tmp_path / "lb.csv"
    hog = tmp_path / "hog.py"
    hog.write_text("INPUT_SIZE = (28, 28)\nimport time\n"
                   "def build_model():\n    blocks = []\n    while True:\n"
                   "        blocks.append(bytearray(50 * 2**20))\n        time.sleep(0.01)\n")
    result = invoke("evaluate", hog, "--leaderboard", lb, "--config", write_config(memory_mb=1500))
    assert result.exit_code != 0 and "memory limit of 1500 MB" in result.output
    assert read_entries(lb)[0].failure == "out_of_memory"


HOSTILE_HEADER = """
import sklearn.metrics
sklearn.metrics.f1_score = lambda *args, **kwargs: 1.0
try:
    with open({board!r}, "a") as f:
        f.write("999,2026-01-01T00:00:00+00:00,hostile,scored,,,x,x,x,28x28,1,1,2021,{{}},1.0,1.0,-9,-9,1,1,x,x,,,,,,,\\n")
except OSError:
    pass
"""


@needs_sandbox
def test_a_hostile_submission_changes_neither_its_score_nor_the_board(invoke, tmp_path, twin_of_team4):
    lb = tmp_path / "lb.csv"
    honest = invoke("evaluate", ROOT / "submissions" / "team4.py", "--leaderboard", lb, "--json")
    assert honest.exit_code == 0
    before = lb.read_text()
    hostile = invoke("evaluate", twin_of_team4("hostile", HOSTILE_HEADER.format(board=str(lb))), "--leaderboard", lb, "--json")
    assert hostile.exit_code == 0, hostile.output
    d, h = json_of(honest.output), json_of(hostile.output)
    assert h["f1"] == pytest.approx(d["f1"]) and h["score"] == pytest.approx(d["score"]) and h["f1"] < 1.0
    assert lb.read_text().startswith(before)
    rows = read_entries(lb)
    assert [r.team for r in rows] == ["team4", "hostile"] and all(r.id in (1, 2) for r in rows)


@needs_sandbox
def test_the_answer_key_is_not_readable_inside_the_sandbox(invoke, tmp_path):
    peek = tmp_path / "peek.py"
    peek.write_text(
        "from pathlib import Path\nINPUT_SIZE = (28, 28)\n"
        f"ANSWERS = Path({str(ROOT / 'data' / 'answers.csv')!r})\n"
        "def build_model():\n"
        "    text = ANSWERS.read_text() if ANSWERS.exists() else ''\n"
        "    raise RuntimeError(f'answer key: {len(text)} bytes; train dir visible: {(ANSWERS.parent / \"train\").exists()}')\n"
    )
    result = invoke("evaluate", peek, "--leaderboard", tmp_path / "lb.csv")
    assert "answer key: 0 bytes" in result.output and "train dir visible: False" in result.output


@needs_sandbox
def test_no_network_and_read_only_files_in_the_sandbox(invoke, tmp_path):
    probe = tmp_path / "probe.py"
    target = ROOT / "submissions" / "forged.txt"
    probe.write_text(
        "import socket\nINPUT_SIZE = (28, 28)\n"
        "def build_model():\n"
        "    results = []\n"
        "    try:\n        socket.create_connection(('1.1.1.1', 53), timeout=2); results.append('net:open')\n"
        "    except OSError:\n        results.append('net:closed')\n"
        "    try:\n"
        f"        open({str(target)!r}, 'w').write('x'); results.append('fs:writable')\n"
        "    except OSError:\n        results.append('fs:read-only')\n"
        "    raise RuntimeError(' '.join(results))\n"
    )
    result = invoke("evaluate", probe, "--leaderboard", tmp_path / "lb.csv")
    assert "net:closed" in result.output and "fs:read-only" in result.output
    assert not target.exists()


def _append_one(args):
    lb, i = args
    from harness.config import load_config

    cfg = load_config(ROOT / "pyproject.toml")
    entry = new_entry(ROOT / "submissions" / "team4.py", f"team{i}", cfg, datetime.now(timezone.utc))
    append_entry(Path(lb), replace(entry, failure="crashed", message=f"writer {i}"))


def test_eight_concurrent_appends_keep_eight_rows(tmp_path):
    lb = tmp_path / "lb.csv"
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        pool.map(_append_one, [(str(lb), i) for i in range(8)])
    rows = read_entries(lb)
    assert len(rows) == 8
    assert sorted(r.id for r in rows) == list(range(1, 9))
    assert sorted(r.message for r in rows) == sorted(f"writer {i}" for i in range(8))


def test_parallel_evaluations_into_one_leaderboard(invoke, tmp_path):
    lb = tmp_path / "lb.csv"
    paths = [ROOT / "submissions" / "team4.py", ROOT / "submissions" / "team7.py", ROOT / "baselines" / "reference.py"]
    result = invoke("evaluate", *paths, "--jobs", "3", "--leaderboard", lb)
    assert result.exit_code == 0, result.output
    assert sorted(e.team for e in read_entries(lb)) == ["reference", "team4", "team7"]


def test_a_truncated_leaderboard_is_reported_and_never_overwritten(invoke, tmp_path):
    lb = tmp_path / "lb.csv"
    shutil.copy(ROOT / "leaderboard.csv", lb)
    damaged = lb.read_text()[:-40]
    lb.write_text(damaged)
    result = invoke("evaluate", ROOT / "submissions" / "team7.py", "--leaderboard", lb)
    assert result.exit_code == 5
    assert f"{lb}:" in result.output and "truncated" in result.output
    assert lb.read_text() == damaged
    board = invoke("leaderboard", "--leaderboard", lb)
    assert board.exit_code == 5 and "Traceback" not in board.output


def test_an_unknown_schema_is_reported_with_its_line(tmp_path):
    lb = tmp_path / "lb.csv"
    lb.write_text("when,who,score\n2026-01-01,x,0.5\n")
    with pytest.raises(LeaderboardError, match=r"lb.csv:1: unknown leaderboard schema \(unexpected column 'when'\)"):
        read_entries(lb)
    with pytest.raises(LeaderboardError):
        append_entry(lb, new_entry(ROOT / "submissions" / "team4.py", "x", __import__("harness.config").config.load_config(ROOT / "pyproject.toml"), datetime.now(timezone.utc)))
    assert lb.read_text() == "when,who,score\n2026-01-01,x,0.5\n"


def test_a_damaged_row_is_reported_with_its_line(tmp_path):
    lb = tmp_path / "lb.csv"
    shutil.copy(ROOT / "leaderboard.csv", lb)
    lines = lb.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace(",scored,", ",scored,extra,", 1)
    lb.write_text("".join(lines))
    with pytest.raises(LeaderboardError, match="lb.csv:3:"):
        read_entries(lb)


def test_rescore_backs_up_before_rewriting(invoke, tmp_path):
    lb = tmp_path / "lb.csv"
    shutil.copy(ROOT / "leaderboard.csv", lb)
    original = lb.read_text()
    assert invoke("rescore", "--leaderboard", lb).exit_code == 0
    (backup,) = tmp_path.glob("lb.csv.*.bak")
    assert backup.read_text() == original


def test_missing_data_directory_is_a_clear_error(invoke, write_config, tmp_path):
    result = invoke("evaluate", ROOT / "submissions" / "team4.py", "--leaderboard", tmp_path / "lb.csv",
                    "--config", write_config(data=str(tmp_path / "nowhere"), builder=None))
    assert result.exit_code == 4 and "data directory not found" in result.output
