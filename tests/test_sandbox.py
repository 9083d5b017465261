"""The sandbox is an allow-list: a hostile corpus finds nothing secret and carries nothing out."""
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, json_of
from harness.leaderboard import read_entries
from harness.protocol import MAX_TEXT, one_line, parse_loaded
from harness.sandbox import PROCESS_BUDGET, bwrap_available, bwrap_command

pytestmark = pytest.mark.slow  # every test here starts isolated workers


HOSTILE = Path(__file__).resolve().parent / "hostile"
needs_sandbox = pytest.mark.skipif(not bwrap_available(), reason="bwrap (Debian package bubblewrap) is not installed or cannot run here")
ENV_SECRET = "SECRET-ENV-MARKER-7f3a"
BACKUP_SECRET = "SECRET-BACKUP-MARKER-91c2"
PICKS_SECRET = "SECRET-PICKS-MARKER-c07e"

# each hostile file, and what its own report must say when the sandbox held
EXPECTED = {
    "git_history.py": ["probe git:  objects:0  objects:0"],  # git printed nothing, .git/ is not there
    "source_data.py": ["mlxtend:blocked", "sklearn:blocked"],
    "other_teams.py": [  # the worker sees the staged copy in a private folder: nothing of the checkout at all
       "submissions:0 baselines:0 data:0 tests:0 ", "team7.pt:blocked", "siblings:other_teams.py"],
    "board_files.py": ["probe board: 0 files"],
    "exfil_message.py": ["probe exfil: xxxx"],
    "proc_reader.py": ["probe proc: pids:"],
    "writer.py": ["leaderboard.csv:denied", "hostile-was-here.py:denied", "scoring.py:denied", "tmp:ok"],
}


def _secrets(cfg) -> list[str]:
    answers = (cfg.data_dir / "answers.csv").read_text().splitlines()[1:]
    return answers + [ENV_SECRET, BACKUP_SECRET, PICKS_SECRET]


@pytest.fixture
def board(tmp_path, monkeypatch):
    """A board with rows of every team, a rescore backup and a picks file beside it."""
    lb = tmp_path / "board" / "leaderboard.csv"
    lb.parent.mkdir()
    shutil.copy(ROOT / "leaderboard.csv", lb)
    (lb.parent / "leaderboard.csv.20260101T000000.bak").write_text(lb.read_text() + f"# {BACKUP_SECRET}\n")
    (lb.parent / "leaderboard.csv.picks.json").write_text(json.dumps({"team4": [1], "note": PICKS_SECRET}))
    monkeypatch.setenv("HARNESS_TEST_SECRET", ENV_SECRET)
    return lb


def _assert_nothing_secret(cfg, *texts: str) -> None:
    for secret in _secrets(cfg):
        for text in texts:
            assert secret not in text, f"{secret!r} leaked"


@needs_sandbox
def test_the_hostile_corpus_finds_nothing_and_carries_nothing_out(invoke, board, cfg):
    before = read_entries(board)
    result = invoke("evaluate", *sorted(HOSTILE / name for name in EXPECTED), "--jobs", "3", "--leaderboard", board)
    assert result.exit_code != 0
    lines = {name: next(line for line in result.output.splitlines() if f"{name}:" in line) for name in EXPECTED}
    for name, markers in EXPECTED.items():
        for marker in markers:
            assert marker in lines[name], (name, lines[name])
    assert "WRITTEN" not in result.output and "uid:0" not in lines["proc_reader.py"]
    rows = read_entries(board)[-len(EXPECTED):]
    assert read_entries(board)[:len(before)] == before  # every earlier row unchanged (the file may gain new columns)
    assert {r.team for r in rows} == {name.removesuffix(".py") for name in EXPECTED}
    assert all(r.status == "failed" and "\n" not in r.message and len(r.message) <= MAX_TEXT for r in rows)
    _assert_nothing_secret(cfg, result.output, board.read_text())
    assert not (ROOT / "submissions" / "hostile-was-here.py").exists() and not (HOSTILE / "hostile-was-here.txt").exists()


@needs_sandbox
def test_a_fork_bomb_stops_at_the_process_limit(invoke, tmp_path):
    lb = tmp_path / "lb.csv"
    result = invoke("evaluate", HOSTILE / "fork_bomb.py", "--leaderboard", lb)
    assert result.exit_code != 0 and "probe fork: stopped after" in result.output
    started = int(result.output.split("stopped after")[1].split()[0])
    assert 0 < started <= PROCESS_BUDGET
    (row,) = read_entries(lb)
    assert row.status == "failed"


@needs_sandbox
def test_a_reader_of_the_answer_key_scores_at_chance_and_never_sees_a_test_image(invoke, tmp_path, cfg):
    """A model whose weights come from whatever data it can find: here only validation images."""
    spy = tmp_path / "spy.py"
    spy.write_text(
        "import numpy as np, torch\nfrom pathlib import Path\nINPUT_SIZE = (28, 28)\n"
        f"TEST = Path({str(cfg.data_dir / 'test')!r})\n"
        "def build_model():\n"
        "    seen = len(list(TEST.glob('*.png'))) if TEST.is_dir() else 0\n"
        "    if seen:\n        raise RuntimeError(f'saw {seen} test images')\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 28 * 28, 9)).eval()\n"
    )
    result = invoke("evaluate", spy, "--leaderboard", tmp_path / "lb.csv", "--json")
    assert result.exit_code == 0, result.output
    d = json_of(result.output)
    assert d["sandbox"] == "bwrap" and d["f1"] < 0.5 and d["f1_term"] == 1.0


def test_a_transform_that_cannot_cross_is_refused_with_a_reason(invoke, tmp_path):
    sub = tmp_path / "lam.py"
    shutil.copy(ROOT / "submissions" / "team4.pt", tmp_path / "lam.pt")
    sub.write_text((ROOT / "submissions" / "team4.py").read_text() + (
        "\nimport albumentations as A\n"
        "def transform(input_size):\n"
        "    return A.Compose([A.Resize(*input_size), A.Lambda(name='mine', image=lambda x, **k: x.astype('float32'))])\n"))
    lb = tmp_path / "lb.csv"
    result = invoke("evaluate", sub, "--leaderboard", lb)
    assert result.exit_code != 0 and "cannot be rebuilt outside" in result.output and "A.Lambda" in result.output
    assert read_entries(lb)[0].status == "failed"
    check = invoke("check", sub, "--json")
    assert check.exit_code == 1 and json_of(check.output)["checks"]["transform"] is False


def test_sandbox_required_without_bwrap_refuses_and_writes_nothing(invoke, write_config, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_SANDBOX", "off")
    bwrap_available.cache_clear()
    try:
        lb = tmp_path / "lb.csv"
        result = invoke("evaluate", ROOT / "submissions" / "team4.py", "--leaderboard", lb, "--config", write_config(sandbox="required"))
        assert result.exit_code == 3 and "sandbox" in result.output and "bubblewrap" in result.output
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in result.output and not lb.exists()
        auto = invoke("evaluate", ROOT / "submissions" / "team4.py", "--leaderboard", lb, "--json")
        assert auto.exit_code == 0 and json_of(auto.output)["sandbox"] == "none"
    finally:
        monkeypatch.delenv("HARNESS_SANDBOX")
        bwrap_available.cache_clear()


def test_bad_sandbox_policy_names_the_key(invoke, write_config):
    result = invoke("check", ROOT / "submissions" / "team4.py", "--config", write_config(sandbox="sometimes"))
    assert result.exit_code == 3 and "[tool.harness] sandbox" in result.output


def test_the_view_binds_no_project_file_but_the_submission(tmp_path):
    sub = tmp_path / "a.py"
    command = bwrap_command(["python"], [sub], [tmp_path / "out"])
    bound = {command[i + 2] for i, arg in enumerate(command) if arg in ("--ro-bind", "--bind")}
    assert str(sub) in bound and str(tmp_path / "out") in bound
    assert str(ROOT) not in bound and str(ROOT / "data") not in bound and str(ROOT / ".git") not in bound
    assert str(ROOT / "harness") in bound


def test_worker_messages_are_validated_and_cut_to_one_line():
    assert one_line("a" * 1000 + "\nsecond") == "a" * (MAX_TEXT - 1) + "…"
    assert parse_loaded({"team": "t", "input_size": [28, 28], "transform": None}).team == "t"
    from harness.errors import WorkerError

    for bad in ({"team": "x\ny", "input_size": [28, 28]}, {"team": "t" * 100, "input_size": [28, 28]},
                {"team": "t", "input_size": [0, 28]}, {"team": "t", "input_size": [28, 28], "transform": "Lambda"}):
        with pytest.raises(WorkerError):
            parse_loaded(bad)


def test_the_worker_environment_holds_nothing_of_the_parent(monkeypatch):
    from harness.sandbox import worker_env

    monkeypatch.setenv("HARNESS_TEST_SECRET", ENV_SECRET)
    assert ENV_SECRET not in json.dumps(worker_env(True)) and os.environ["HARNESS_TEST_SECRET"] == ENV_SECRET


def test_a_runtime_under_tmp_is_bound_into_the_private_tmp(monkeypatch, tmp_path):
    import harness.sandbox as sandbox

    venv = tmp_path / "venv"
    monkeypatch.setattr(sandbox, "runtime_paths", lambda: [venv])
    command = bwrap_command(["python"], [], [])
    tmpfs = command.index("/tmp", command.index("--tmpfs"))
    bind = next(i for i, arg in enumerate(command) if arg == "--ro-bind" and command[i + 1] == str(venv))
    assert bind > tmpfs  # bound after the private /tmp is mounted, so it is there
    assert ["--perms", "0755", "--dir", "/tmp"] not in [command[i:i + 4] for i in range(len(command))]
