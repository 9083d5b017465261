"""Bring your own competition: `init` from a folder of 10 classes, then the whole season.

The data set is scikit-learn's digits as 32x32 PNGs in folders `zero`...`nine` (8 images
a class, so it runs in seconds); the README's example submission is one of the teams.
"""
import json
import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from conftest import ROOT, json_of
from harness.leaderboard import read_entries

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    from PIL import Image
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("digits-png")
    digits, seen = load_digits(), {}
    for image, label in zip(digits.images, digits.target):
        name = NAMES[label]
        if seen.get(name, 0) == 8:
            continue
        seen[name] = seen.get(name, 0) + 1
        (root / name).mkdir(exist_ok=True)
        pixels = Image.fromarray((image / 16 * 255).astype(np.uint8))
        pixels.resize((32, 32), Image.NEAREST).save(root / name / f"{name}_{seen[name]}.png")
    return root


@pytest.fixture(scope="module")
def competition(source, tmp_path_factory) -> Path:
    """A competition made by `harness init`, its reference pinned by `reference --write`."""
    from typer.testing import CliRunner

    from harness.cli import app

    comp = tmp_path_factory.mktemp("season") / "digits10"
    runner = CliRunner()
    made = runner.invoke(app, ["init", str(comp), "--from", str(source), "--seed", "1"])
    assert made.exit_code == 0, made.output
    early = runner.invoke(app, ["evaluate", str(comp / "reference.py"), "-l", str(comp / "board.csv"), "--config", str(comp / "pyproject.toml")])
    assert early.exit_code == 3 and "reference_macs" in early.output and "reference --write" in early.output
    assert not (comp / "board.csv").exists()
    pinned = runner.invoke(app, ["reference", "--write", "--config", str(comp / "pyproject.toml")])
    assert pinned.exit_code == 0, pinned.output
    return comp


def _readme_submission(folder: Path, team: str, classes: int) -> Path:
    """The README's example submission, with seeded untrained weights for `classes` classes."""
    import torch

    readme = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(# submissions/myteam.py.*?)```", readme, re.S).group(1)
    path = folder / f"{team}.py"
    path.write_text(code.replace('TEAM = "myteam"', f'TEAM = "{team}"'))
    namespace: dict = {"__file__": str(path)}
    exec(compile(code, str(path), "exec"), namespace)
    torch.manual_seed(0)
    torch.save(namespace["make_model"](classes).state_dict(), path.with_suffix(".pt"))
    return path


def _reference_as(comp: Path, folder: Path, team: str) -> Path:
    """The competition's reference, submitted by `team`."""
    path = folder / f"{team}.py"
    path.write_text((comp / "reference.py").read_text().replace('TEAM = "reference"', f'TEAM = "{team}"'))
    shutil.copy(comp / "reference.pt", path.with_suffix(".pt"))
    return path


def _data_copy(comp: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the competition's data set and a configuration pointing at it."""
    data = tmp_path / "data"
    shutil.copytree(comp / "data", data)
    config = _config_with(comp, tmp_path)
    config.write_text(config.read_text().replace(f'data = "{comp / "data"}"', f'data = "{data}"'))
    return data, config


def _config_with(comp: Path, tmp_path: Path, **extra) -> Path:
    """A copy of the competition's configuration with extra keys (TOML values)."""
    text = (comp / "pyproject.toml").read_text().replace('data = "data"', f'data = "{comp / "data"}"')
    text = text.replace('reference = "reference.py"', f'reference = "{comp / "reference.py"}"')
    for key, value in extra.items():
        text, found = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.M)
        text += "" if found else f"{key} = {value}\n"
    path = tmp_path / f"rules-{len(list(tmp_path.glob('rules-*')))}.toml"
    path.write_text(text)
    return path


def test_init_writes_the_layout_a_split_holding_every_class_and_a_config(competition):
    from harness.config import load_config
    from harness.data import open_dataset, read_answer_key

    cfg = load_config(competition / "pyproject.toml")
    assert cfg.name == "digits10" and cfg.num_classes == 10 and sorted(cfg.classes) == sorted(NAMES)
    assert cfg.reference.macs == 3 * 32 * 32 * 10 + 10 and cfg.reference.f1 > 0.5  # the nearest-centroid reference
    key = read_answer_key(open_dataset(cfg.data_dir, cfg.classes))
    for part in (key.public, key.private):
        assert set(key.labels[part]) == set(range(10))
    answers = (competition / "data" / "answers.csv").read_text().splitlines()
    assert answers[0] == "image,label,part" and answers[1].split(",")[1] in NAMES  # labels are folder names


def test_a_season_init_reference_check_evaluate_board_select_private(competition, invoke, tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_CONFIG", raising=False)
    monkeypatch.chdir(competition)  # ./pyproject.toml is found
    board = tmp_path / "board.csv"
    alpha = _readme_submission(tmp_path, "alpha", 10)
    beta = _reference_as(competition, tmp_path, "beta")

    checked = invoke("check", "reference.py")
    assert checked.exit_code == 0 and "would be accepted" in checked.output
    assert "competition digits10@" in checked.output
    first = invoke("evaluate", alpha, "-l", board, "--json")
    assert first.exit_code == 0, first.output
    d = json_of(first.output)
    assert d["team"] == "alpha" and d["competition"].startswith("digits10@") and d["reference_macs"] == 30730
    second = invoke("evaluate", beta, "-l", board, "--json")
    assert second.exit_code == 0, second.output
    assert json_of(second.output)["score"] == pytest.approx(1.0, abs=1e-9)  # beta is the reference
    assert {e.competition for e in read_entries(board)} == {d["competition"]}

    public = json_of(invoke("leaderboard", "-l", board, "--json").output)
    assert public["competition"] == d["competition"] and [r["team"] for r in public["rows"]][0] == "beta"
    assert all(r["ci_low"] is not None for r in public["rows"])
    assert invoke("select", "beta", "2", "-l", board).exit_code == 0
    assert json.loads(Path(str(board) + ".picks.json").read_text()) == {"beta": [2]}

    future = (datetime.now(timezone.utc) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    running = _config_with(competition, tmp_path, end=future)
    early = invoke("leaderboard", "-l", board, "--private", "--config", running)
    assert early.exit_code == 7 and "revealed after" in early.output and "--reveal" in early.output
    assert invoke("leaderboard", "-l", board, "--private", "--reveal", "--config", running).exit_code == 0

    closed = _config_with(competition, tmp_path, end="2020-01-01T00:00:00Z")
    before = board.read_bytes()
    late = invoke("evaluate", alpha, "-l", board, "--config", closed)
    assert late.exit_code == 7 and "closed at 2020-01-01 00:00:00 UTC" in late.output
    assert board.read_bytes() == before
    final = invoke("leaderboard", "-l", board, "--private", "--json", "--config", closed)
    assert final.exit_code == 0, final.output
    rows = json_of(final.output)["rows"]
    assert {r["team"] for r in rows} == {"alpha", "beta"} and all("change" in r for r in rows)

    from harness import board as board_mod
    from harness.config import load_config
    from harness.data import open_dataset, read_answer_key
    from harness.render import board_table

    cfg = load_config(closed)
    key = read_answer_key(open_dataset(cfg.data_dir, cfg.classes))
    standings = board_mod.private_board(read_entries(board), board_mod.read_picks(board), cfg, key)
    narrow = Console(width=80, record=True)
    narrow.print(board_table(standings, True, {"board": "private", "resamples": 1000, "row_configs": [], "config": ""}, width=80))
    text = narrow.export_text()
    header = next(line for line in text.splitlines() if "team" in line)
    assert "#" in header and "score" in header and "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines())


def _scored_row(board: Path, config: Path, team: str, competition: bool = True):
    """Append a scored row of the competition's reference (as `evaluate` would, without running it)."""
    from dataclasses import replace as with_values

    from harness.config import load_config
    from harness.data import competition_identity, open_dataset, read_answer_key
    from harness.evaluate import new_entry, score_parts
    from harness.leaderboard import STATUS_SCORED, append_entry, encode_predictions

    cfg = load_config(config)
    key = read_answer_key(open_dataset(cfg.data_dir, cfg.classes))
    s = score_parts(np.eye(cfg.num_classes)[key.labels], key, cfg.reference.macs, cfg)
    entry = with_values(
        new_entry(cfg.reference_path, team, cfg, datetime.now(timezone.utc),
                    competition_identity(cfg.name, cfg.data_dir) if competition else ""),
        status=STATUS_SCORED, macs=cfg.reference.macs, params=1, input_size="32x32", public_f1=s.public_f1,
        private_f1=s.private_f1, public_score=s.public.total, private_score=s.private.total,
        predictions=encode_predictions(key.labels))
    return append_entry(board, entry, daily_limit=cfg.daily_limit)


def test_rows_of_another_competition_are_refused_and_nothing_is_written(competition, invoke, tmp_path):
    board = tmp_path / "board.csv"
    _scored_row(board, competition / "pyproject.toml", "beta")
    before = board.read_bytes()
    mnist = ROOT / "pyproject.toml"
    for args in (("evaluate", ROOT / "submissions" / "team4.py"), ("leaderboard",), ("select", "beta", "1"), ("rescore",), ("history", "beta")):
        result = invoke(*args, "-l", board, "--config", mnist)
        assert result.exit_code == 5, (args, result.output)
        assert f"{board}:2: row 1 belongs to competition digits10@" in result.output and "mnist9-longtail@" in result.output
    assert board.read_bytes() == before and not list(tmp_path.glob("board.csv.*.bak"))


def test_older_rows_without_the_column_are_read_and_upgraded(competition, invoke, tmp_path):
    from harness.leaderboard import COLUMNS

    board = tmp_path / "board.csv"
    config = competition / "pyproject.toml"
    _scored_row(board, config, "beta", competition=False)
    lines = board.read_text().splitlines()
    old = [",".join(lines[0].split(",")[:-1])] + [line.rsplit(",", 1)[0] for line in lines[1:]]
    board.write_text("\n".join(old) + "\n")  # as written before the competition column
    shown = invoke("leaderboard", "-l", board, "--config", config)
    assert shown.exit_code == 0 and "1 row(s)" in shown.output and "predate" in shown.output
    assert read_entries(board)[0].competition == ""
    _scored_row(board, config, "gamma")
    assert board.read_text().splitlines()[0] == ",".join(COLUMNS)
    assert [e.competition != "" for e in read_entries(board)] == [False, True]


def test_registered_teams_and_the_quota_are_checked_before_the_import(competition, invoke, tmp_path):
    board = tmp_path / "board.csv"
    marker = tmp_path / "imported"
    spy = tmp_path / "spy.py"
    spy.write_text(f'from pathlib import Path\nPath({str(marker)!r}).touch()\nTEAM = "alpah"\nINPUT_SIZE = (8, 8)\n')
    config = _config_with(competition, tmp_path, teams='["alpha", "beta"]', daily_limit=1)
    wrong = invoke("evaluate", spy, "-l", board, "--config", config)
    assert wrong.exit_code == 7 and "did you mean 'alpha'?" in wrong.output
    typo = invoke("evaluate", spy, "-l", board, "--team", "betta", "--config", config, "--json")
    assert typo.exit_code == 7 and json_of(typo.output)["error"]["kind"] == "rules" and "'beta'" in json_of(typo.output)["error"]["message"]
    _scored_row(board, config, "beta")
    before = board.read_bytes()
    spy.write_text(spy.read_text().replace('"alpah"', '"beta"'))
    over = invoke("evaluate", spy, "-l", board, "--config", config, "--json")
    assert over.exit_code == 6 and json_of(over.output)["error"] == {
        "kind": "quota", "message": json_of(over.output)["error"]["message"], "exit_code": 6}
    assert not marker.exists() and board.read_bytes() == before


@pytest.mark.parametrize("damage,named", [
    ("corrupt", "00003.png: cannot be decoded"),
    ("label", "unknown class 'ten'"),
    ("part", "unknown part 'secret'"),
    ("extra", "99999.png: no answer in"),
    ("folder", "train/zero: missing class folder"),
    ("one_part", "the private part holds no image of class"),
])
def test_data_checks_name_the_file_and_manifest_refuses(competition, invoke, tmp_path, damage, named):
    data, config = _data_copy(competition, tmp_path)
    answers = data / "answers.csv"
    if damage == "corrupt":
        (data / "test" / "00003.png").write_bytes((data / "test" / "00003.png").read_bytes()[:40])
    elif damage == "label":
        answers.write_text(answers.read_text().replace(",zero,", ",ten,", 1))
    elif damage == "part":
        answers.write_text(answers.read_text().replace(",public\n", ",secret\n", 1))
    elif damage == "extra":
        shutil.copy(data / "test" / "00000.png", data / "test" / "99999.png")
    elif damage == "folder":
        shutil.rmtree(data / "train" / "zero")
    elif damage == "one_part":
        answers.write_text(answers.read_text().replace(",private\n", ",public\n"))
    manifest = (data / "manifest.json").read_bytes()
    refused = invoke("data", "manifest", "--config", config)
    assert refused.exit_code == 4 and named in refused.output, refused.output
    assert (data / "manifest.json").read_bytes() == manifest
    verify = invoke("data", "verify", "--config", config)
    assert verify.exit_code == 4 and named in verify.output
    assert all(line.startswith("error: ") or line.startswith("competition ") for line in verify.output.strip().splitlines())


def test_a_manifest_of_sound_data_is_current_again(competition, invoke, tmp_path):
    data, config = _data_copy(competition, tmp_path)
    shutil.copy(data / "train" / "one" / next(p.name for p in (data / "train" / "one").iterdir()), data / "train" / "one" / "more.png")
    stale = invoke("data", "verify", "--config", config)
    assert stale.exit_code == 4 and "more.png is not in the manifest" in stale.output
    assert invoke("data", "manifest", "--config", config).exit_code == 0
    assert invoke("data", "verify", "--config", config).exit_code == 0


def test_init_mistakes_are_one_line_and_write_nothing(source, invoke, tmp_path):
    few = tmp_path / "few"
    shutil.copytree(source, few)
    for extra in sorted((few / "two").iterdir())[3:]:
        extra.unlink()
    result = invoke("init", tmp_path / "a", "--from", few)
    assert result.exit_code == 4 and "two: 3 image(s)" in result.output and not (tmp_path / "a").exists()
    result = invoke("init", tmp_path / "b", "--from", source, "--classes", "zero,eleven")
    assert result.exit_code == 4 and "eleven: no such class folder" in result.output and not (tmp_path / "b").exists()
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "keep.txt").write_text("mine")
    result = invoke("init", tmp_path / "c", "--from", source)
    assert result.exit_code == 1 and "not empty" in result.output and [p.name for p in (tmp_path / "c").iterdir()] == ["keep.txt"]
    ordered = invoke("init", tmp_path / "d", "--from", source, "--classes", "nine", "--classes", "zero,one")
    assert ordered.exit_code == 0
    assert 'classes = ["nine", "zero", "one"]' in (tmp_path / "d" / "pyproject.toml").read_text()


def test_no_configuration_anywhere_is_a_clear_refusal(invoke, tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    result = invoke("leaderboard", "-l", tmp_path / "lb.csv")
    assert result.exit_code == 3
    assert "--config" in result.output and "HARNESS_CONFIG" in result.output and "./pyproject.toml" in result.output
    as_json = invoke("leaderboard", "-l", tmp_path / "lb.csv", "--json")
    assert as_json.exit_code == 3 and json.loads(as_json.stdout)["error"]["kind"] == "config"
    assert not (tmp_path / "lb.csv").exists()


def test_data_init_refuses_classes_other_than_the_default(competition, invoke, tmp_path):
    result = invoke("data", "init", "--path", tmp_path / "built", "--config", competition / "pyproject.toml")
    assert result.exit_code == 3 and "not the default's" in result.output and not (tmp_path / "built").exists()


def test_output_without_negative_zero_and_help_showing_the_table(invoke):
    from harness.render import _fmt

    assert _fmt(-0.00001) == "0.0000" and _fmt(-0.25) == "-0.2500"
    assert "[tool.harness]" in invoke("evaluate", "--help").output


def test_the_team_is_read_without_importing_when_the_file_says_it_literally(tmp_path):
    from harness.rules import declared_team

    cases = {"literal.py": 'TEAM = "alpha"\n', "stem.py": "INPUT_SIZE = (8, 8)\n",
             "computed.py": 'import os\nTEAM = os.environ.get("X", "a")\n', "twice.py": 'TEAM = "a"\nif True:\n    TEAM = "b"\n'}
    for name, code in cases.items():
        (tmp_path / name).write_text(code)
    assert [declared_team(tmp_path / n) for n in cases] == ["alpha", "stem", None, None]


def test_before_start_evaluate_refuses_with_the_time(competition, invoke, tmp_path):
    config = _config_with(competition, tmp_path, start="2999-01-01T00:00:00Z")
    result = invoke("evaluate", competition / "reference.py", "-l", tmp_path / "lb.csv", "--config", config)
    assert result.exit_code == 7 and "opens at 2999-01-01 00:00:00 UTC" in result.output and not (tmp_path / "lb.csv").exists()
    bad = _config_with(competition, tmp_path, end='"next friday"')
    result = invoke("leaderboard", "-l", tmp_path / "lb.csv", "--config", bad)
    assert result.exit_code == 3 and "[tool.harness] end: expected a UTC time" in result.output


def test_board_plot_contours_span_the_teams_scores():
    from harness.plots import contour_levels

    for scores in ([0.05, 0.12, 0.2], [0.134, 0.25, 1.02, 1.0], [0.9, 0.95]):
        levels = contour_levels(scores)
        assert levels[0] <= min(scores) and levels[-1] >= max(scores) and 4 <= len(levels) <= 9
        assert sum(min(scores) <= v <= max(scores) for v in levels) >= 2  # lines pass between the teams


def test_init_names_skipped_files_and_ignores_system_files_like_verify(source, invoke, tmp_path):
    messy = tmp_path / "messy"
    shutil.copytree(source, messy)
    (messy / "zero" / "notes.txt").write_text("where these came from")
    (messy / "one" / ".DS_Store").write_bytes(b"\0\1")
    made = invoke("init", tmp_path / "comp", "--from", messy)
    assert made.exit_code == 0, made.output
    assert "skipped 1 file(s) that are not images" in made.output and "notes.txt" in made.output
    (tmp_path / "comp" / "data" / "test" / ".DS_Store").write_bytes(b"\0\1")
    verified = invoke("data", "verify", "--config", tmp_path / "comp" / "pyproject.toml")
    assert verified.exit_code == 0, verified.output


def test_init_reference_cnn_trains_a_seeded_cnn_that_beats_chance(source, invoke, tmp_path):
    import torch

    from harness.config import load_config
    from harness.data import ensure_split
    from harness.preprocess import default_transform, transform_images
    from harness.submission import load_submission

    made = invoke("init", tmp_path / "cnn", "--from", source, "--reference", "cnn", "--seed", "3")
    assert made.exit_code == 0, made.output
    cfg = load_config(tmp_path / "cnn" / "pyproject.toml")
    sub = load_submission(tmp_path / "cnn" / "reference.py")
    model = sub.build_model()
    assert isinstance(model[0], torch.nn.Conv2d)
    paths, labels = ensure_split(cfg.data_dir, "train", cfg.classes)
    x = torch.from_numpy(transform_images(paths, default_transform(sub.input_size, cfg.mean, cfg.std)))
    with torch.no_grad():
        accuracy = (model(x).argmax(1).numpy() == labels).mean()
    assert accuracy > 0.5  # ten classes: chance is 0.1
    again = invoke("init", tmp_path / "again", "--from", source, "--reference", "cnn", "--seed", "3")
    assert again.exit_code == 0
    first, second = (torch.load(tmp_path / d / "reference.pt", weights_only=True) for d in ("cnn", "again"))
    assert all(torch.equal(first[k], second[k]) for k in first)  # seeded: the same weights
    bad = invoke("init", tmp_path / "bad", "--from", source, "--reference", "resnet")
    assert bad.exit_code != 0 and "expected centroid or cnn" in bad.output
