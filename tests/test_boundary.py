"""One checked door per channel: files, identity, reports and the cache (tests/hostile/ holds the probes).

Each test puts a hostile submission where a team could put it and asserts that nothing
secret (the answer key's lines) reaches any output, row or file, and that another
team's evaluation is unaffected.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, json_of
from harness.errors import DataError, SubmissionError
from harness.leaderboard import read_entries
from harness.sandbox import bwrap_available
from harness.staging import is_sibling, stage_submission

HOSTILE = ROOT / "tests" / "hostile"
needs_sandbox = pytest.mark.skipif(not bwrap_available(), reason="bwrap cannot run here")


def _secrets(cfg) -> list[str]:
    return (cfg.data_dir / "answers.csv").read_text().splitlines()[1:]


def _assert_nothing_secret(cfg, *texts: str) -> None:
    for text in texts:
        leaked = [s for s in _secrets(cfg) if s in text]
        assert not leaked, f"answer-key lines leaked: {leaked[:3]}"


def _hostile(tmp_path: Path, fixture: str, name: str | None = None) -> Path:
    folder = tmp_path / "team"
    folder.mkdir(exist_ok=True)
    target = folder / (name or fixture)
    shutil.copy(HOSTILE / fixture, target)
    return target


# ---------------------------------------------------------------- files: the staging door

@pytest.mark.parametrize("sibling,link_to", [
    ("key", "answers"), ("t00001", "test_image"), ("npy", "cache"), ("pt", "/dev/zero")])
def test_a_symlinked_sibling_is_refused_before_anything_runs(invoke, tmp_path, cfg, sibling, link_to):
    sub = _hostile(tmp_path, "symlink_sibling.py")
    cache = tmp_path / "cache.npy"
    np.save(cache, np.zeros((2, 3, 28, 28), dtype=np.float32))
    targets = {"answers": cfg.data_dir / "answers.csv", "test_image": sorted((cfg.data_dir / "test").iterdir())[0],
               "cache": cache, "/dev/zero": Path("/dev/zero")}
    (sub.parent / f"symlink_sibling.{sibling}").symlink_to(targets[link_to])
    board = tmp_path / "lb.csv"
    result = invoke("evaluate", sub, "--leaderboard", board, "--json")
    error = json_of(result.output)["error"]
    assert result.exit_code == 2 and error["kind"] == "submission"
    assert error["message"] == f"symlink_sibling.{sibling}: refused: it is a symbolic link; a submission is made of regular files only"
    assert not board.exists()
    _assert_nothing_secret(cfg, result.output)


def test_a_hard_linked_sibling_and_a_symlinked_submission_are_refused(invoke, tmp_path, cfg):
    secret = tmp_path / "answers.csv"  # the answer key's bytes, on the submission's file system
    shutil.copy(cfg.data_dir / "answers.csv", secret)
    sub = _hostile(tmp_path, "symlink_sibling.py")
    os.link(secret, sub.parent / "symlink_sibling.key")
    result = invoke("evaluate", sub, "--leaderboard", tmp_path / "lb.csv")
    assert result.exit_code == 2 and "symlink_sibling.key: refused: it has other hard links" in result.output
    (sub.parent / "symlink_sibling.key").unlink()
    (sub.parent / "linked.py").symlink_to(sub)
    result = invoke("check", sub.parent / "linked.py")
    assert result.exit_code == 2 and "linked.py: refused: it is a symbolic link" in result.output
    _assert_nothing_secret(cfg, result.output)


def test_a_fifo_sibling_is_refused_at_once(invoke, tmp_path, cfg):
    sub = _hostile(tmp_path, "symlink_sibling.py")
    os.mkfifo(sub.parent / "symlink_sibling.pt")  # nobody ever writes to it: a read would hang forever
    start = time.monotonic()
    result = invoke("evaluate", sub, "--leaderboard", tmp_path / "lb.csv")
    assert result.exit_code == 2 and "symlink_sibling.pt: refused: it is a FIFO" in result.output
    assert time.monotonic() - start < 30 and "Traceback" not in result.output


def test_an_oversized_sibling_is_refused_and_never_read_past_the_cap(invoke, tmp_path, write_config):
    sub = _hostile(tmp_path, "symlink_sibling.py")
    with open(sub.parent / "symlink_sibling.pt", "wb") as f:
        f.truncate(3 * 2**30)  # 3 GiB, sparse: reading it whole would take seconds and gigabytes
    start = time.monotonic()
    result = invoke("evaluate", sub, "--leaderboard", tmp_path / "lb.csv", "--config", write_config(max_submission_mb=1))
    assert result.exit_code == 2
    assert "symlink_sibling.pt: refused: the submission's files exceed max_submission_mb = 1" in result.output
    assert time.monotonic() - start < 30


def test_staging_copies_regular_files_and_hashes_them_as_before(tmp_path):
    from harness.submission import file_hashes

    folder = tmp_path / "staged"
    folder.mkdir()
    staged = stage_submission(ROOT / "submissions" / "team4.py", folder)
    assert [p.name for p in staged.files] == ["team4.pt", "team4.py"] and staged.file.parent == folder
    assert (staged.file_sha256, staged.weights_sha256) == file_hashes(ROOT / "submissions" / "team4.py")
    board = read_entries(ROOT / "leaderboard.csv")  # the committed board's hashes are unchanged by staging
    assert any(e.file_sha256 == staged.file_sha256 and e.weights_sha256 == staged.weights_sha256 for e in board)


def test_a_glob_in_a_file_name_is_matched_literally(tmp_path):
    folder = tmp_path / "team"
    folder.mkdir()
    for name in ("team4.py", "team4.pt", "a.py", "b.py"):
        (folder / name).write_text("x")
    (folder / "*.py").write_text("INPUT_SIZE = (28, 28)\n")
    (folder / "*.pt").write_text("mine")
    (folder / "[ab].py").write_text("INPUT_SIZE = (28, 28)\n")
    (tmp_path / "out1").mkdir(), (tmp_path / "out2").mkdir()
    assert [p.name for p in stage_submission(folder / "*.py", tmp_path / "out1").files] == ["*.pt", "*.py"]
    assert [p.name for p in stage_submission(folder / "[ab].py", tmp_path / "out2").files] == ["[ab].py"]
    assert not is_sibling("team4.pt", "*") and is_sibling("*.pt", "*")


# ---------------------------------------------------------------- identity: the parent's team

@pytest.mark.parametrize("bomb", ["x = " + "-" * 800_000 + "1\n", "x = 1" + "+1" * 400_000 + "\n"])
def test_a_parser_bomb_is_one_line_also_under_json(invoke, tmp_path, bomb):
    sub = tmp_path / "bomb.py"
    sub.write_text(bomb)
    as_json = invoke("evaluate", sub, "--leaderboard", tmp_path / "lb.csv", "--json")
    assert as_json.exit_code == 2 and json_of(as_json.output)["error"] == {
        "kind": "submission", "message": "bomb.py: refused: its code is nested too deeply to be parsed", "exit_code": 2}
    plain = invoke("evaluate", sub, "--leaderboard", tmp_path / "lb.csv")
    assert plain.exit_code == 2 and "Traceback" not in plain.output and "RecursionError" not in plain.output
    assert plain.output.strip().splitlines()[1:] == ["", "error: bomb.py: refused: its code is nested too deeply to be parsed"]


def test_a_computed_team_is_refused_before_the_import(invoke, tmp_path):
    marker = tmp_path / "imported"
    sub = tmp_path / "computed.py"
    sub.write_text(f'from pathlib import Path\nPath({str(marker)!r}).touch()\nTEAM = "team" + "4"\nINPUT_SIZE = (8, 8)\n')
    result = invoke("evaluate", sub, "--leaderboard", tmp_path / "lb.csv")
    assert result.exit_code == 2 and "TEAM must be one literal string" in result.output and not marker.exists()


# ---------------------------------------------------------------- the cache door

def test_a_poisoned_cache_file_is_never_used_and_workers_get_private_copies(tmp_path, monkeypatch):
    from harness import cache, preprocess
    from harness.isolation import _hand_over

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    images = sorted((ROOT / "data" / "val").rglob("*.png"))[:4]
    make = lambda: preprocess.default_transform((28, 28), (0.5,) * 3, (0.5,) * 3)  # noqa: E731
    path, hit = preprocess.cached_tensor(images, "sha", "test", (28, 28), "k", make)
    honest = np.load(path)
    copy = _hand_over(path, tmp_path)
    assert not hit and os.stat(copy).st_ino != os.stat(path).st_ino and os.stat(copy).st_mode & 0o777 == 0o444
    poisoned = np.zeros_like(honest)  # what a forged graph wrote through a writable link
    np.save(path, poisoned)
    again, hit = preprocess.cached_tensor(images, "sha", "test", (28, 28), "k", make)
    assert not hit and np.array_equal(np.load(again), honest) and cache.is_intact(again)
    np.save(path, poisoned)  # poisoned after the check: the worker's verified copy refuses it
    with pytest.raises(DataError, match="no longer matched its digest"):
        cache.verified_copy(path, tmp_path / "worker-copy.npy")
    assert not path.exists() and not (tmp_path / "worker-copy.npy").exists()


def test_the_cache_evicts_the_least_recently_used_beyond_its_cap(tmp_path, monkeypatch):
    from harness import cache

    monkeypatch.setenv("HARNESS_CACHE_MB", "4")
    for i, name in enumerate(("old.npy", "used.npy", "new.npy")):
        cache.store(tmp_path / name, b"x" * 2**20)
        os.utime(tmp_path / f"{name}.sha256", (1000 + i, 1000 + i))  # last used long ago, in this order
    assert cache.is_intact(tmp_path / "old.npy")  # used now: the most recent
    cache.store(tmp_path / "newest.npy", b"y" * 2**21)  # 5 MB: the least recently used one goes
    assert sorted(p.name for p in tmp_path.glob("*.npy")) == ["new.npy", "newest.npy", "old.npy"]
    monkeypatch.setenv("HARNESS_CACHE_MB", "lots")
    with pytest.raises(Exception, match="HARNESS_CACHE_MB: expected a positive number"):
        cache.limit_bytes()


# ---------------------------------------------------------------- with workers

@pytest.mark.slow
@needs_sandbox
def test_a_glob_named_file_sees_only_itself(invoke, tmp_path, cfg):
    sub = _hostile(tmp_path, "glob_name.py", "*.py")
    for name in ("team4.py", "team4.pt"):
        shutil.copy(ROOT / "submissions" / name, sub.parent / name)
    result = invoke("check", sub, "--json")
    message = json_of(result.output)["error"]["message"]
    assert result.exit_code != 0 and "probe glob: *.py" in message and "team4" not in message


@pytest.mark.slow
def test_a_forged_team_report_is_rejected_and_the_other_team_is_unaffected(invoke, tmp_path, write_config, cfg):
    board = tmp_path / "lb.csv"
    config = write_config(teams=["team4", "mallory"], daily_limit=1)
    forged = invoke("evaluate", _hostile(tmp_path, "forged_team.py"), "--leaderboard", board, "--config", config, "--json")
    assert forged.exit_code == 2 and "another team than the one the harness fixed" in forged.output
    honest = invoke("evaluate", ROOT / "submissions" / "team4.py", "--leaderboard", board, "--config", config, "--json")
    assert honest.exit_code == 0, honest.output
    rows = read_entries(board)
    assert [(r.team, r.status) for r in rows] == [("mallory", "failed"), ("team4", "scored")]
    _assert_nothing_secret(cfg, forged.output, honest.output, board.read_text())


@pytest.mark.slow
def test_a_forged_note_never_reaches_the_output_or_the_board(invoke, tmp_path, cfg):
    board = tmp_path / "lb.csv"
    result = invoke("evaluate", _hostile(tmp_path, "forged_note.py"), "--leaderboard", board, "--json")
    assert result.exit_code == 0, result.output
    notes = json_of(result.output)["notes"]  # the witness, a sentence of the harness's own, shows the forgery arrived
    assert notes == [(HOSTILE / "forged_note.py").read_text().split('WITNESS = "')[1].split('"')[0]]
    assert json_of(result.output)["team"] == "notary"
    for text in (result.output, board.read_text()):  # the panel shows the same notes as --json
        assert "verified by the organisers" not in text
    _assert_nothing_secret(cfg, result.output, board.read_text())


def test_file_names_with_control_or_bidi_characters_and_too_many_siblings_are_refused(tmp_path):
    from harness.errors import SubmissionError
    from harness.staging import MAX_FILES, staged

    source = "import torch\nINPUT_SIZE = (28, 28)\ndef build_model():\n    return torch.nn.Linear(1, 1)\n"
    for name in ("p\x1b[31mr.py", "team\u202eevil.py", "te\u200bam.py"):
        folder = tmp_path / str(abs(hash(name)))
        folder.mkdir()
        (folder / name).write_text(source)
        with pytest.raises(SubmissionError, match="control, bidi or format characters") as e:
            with staged(folder / name):
                pass
        assert "\x1b" not in e.value.message and "\u202e" not in e.value.message
    crowded = tmp_path / "crowded"
    crowded.mkdir()
    (crowded / "many.py").write_text(source)
    for i in range(MAX_FILES):
        (crowded / f"many.{i}").write_bytes(b"")
    with pytest.raises(SubmissionError, match=f"at most {MAX_FILES}"):
        with staged(crowded / "many.py"):
            pass
