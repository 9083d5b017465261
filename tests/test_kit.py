"""The competitor's starting kit: nothing secret in it, the competitor's commands work in
it, and its validation board never mixes with the host's board."""
from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, json_of
from harness.config import load_config
from harness.errors import ConfigError, LeaderboardError
from harness.kit import PINNED_PACKAGES, cut_kit, identity_problem, installed_versions, version_differences
from harness.leaderboard import append_entry, read_entries

SECRET = re.compile(r"(^|/)(test|answers\.csv|leaderboard[^/]*|[^/]*\.picks\.json|[^/]*\.bak)(/|$)")


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    """A kit of the repository's default competition, cut once (read-only for the tests that share it)."""
    out = tmp_path_factory.mktemp("kits") / "kit"
    cut_kit(load_config(ROOT / "pyproject.toml"), out)
    return out


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _copy_kit(kit: Path, tmp_path: Path, **replacements: str) -> Path:
    """A copy of `kit` whose pyproject.toml has each `old=new` text replacement applied."""
    copy = tmp_path / "kit"
    shutil.copytree(kit, copy)
    config = copy / "pyproject.toml"
    text = config.read_text()
    for old, new in replacements.values():
        assert old in text
        text = text.replace(old, new)
    config.write_text(text)
    return copy


def test_the_kit_holds_the_public_part_and_nothing_secret(kit, cfg):
    files = _files(kit)
    host = cfg.data_dir
    images = {f"data/{p.relative_to(host).as_posix()}" for split in ("train", "val") for p in (host / split).rglob("*") if p.is_file()}
    assert files == images | {"data/manifest.json", "pyproject.toml", "requirements.txt", "README.md", "reference.py", "reference.pt"}
    assert not [f for f in files if SECRET.search(f)]
    assert all((kit / f).read_bytes() == (host / f.removeprefix("data/")).read_bytes() for f in images)
    config = (kit / "pyproject.toml").read_text()
    assert "private" not in config and "answers" not in config and "teams" not in config
    kit_cfg = load_config(kit / "pyproject.toml")
    from harness.data import competition_identity

    assert kit_cfg.kit and kit_cfg.identity == competition_identity(cfg.name, cfg.data_dir)
    assert (kit_cfg.classes, kit_cfg.mean, kit_cfg.std, kit_cfg.profile, kit_cfg.reference, kit_cfg.limits, kit_cfg.rule,
            kit_cfg.max_submission_mb) == (cfg.classes, cfg.mean, cfg.std, cfg.profile, cfg.reference, cfg.limits, cfg.rule,
                                           cfg.max_submission_mb)
    assert dict(kit_cfg.pins) == installed_versions() and set(dict(kit_cfg.pins)) == set(PINNED_PACKAGES)
    assert version_differences(kit_cfg.pins) == [] and identity_problem(kit_cfg) is None
    assert f"ptflops=={installed_versions()['ptflops']}" in (kit / "requirements.txt").read_text().splitlines()
    assert kit_cfg.identity in (kit / "README.md").read_text()


def test_data_verify_in_a_kit_checks_train_and_val_only(kit, invoke, tmp_path):
    assert "intact" in invoke("data", "verify", "--config", kit / "pyproject.toml").output
    copy = _copy_kit(kit, tmp_path)
    next((copy / "data" / "val" / "3").iterdir()).write_bytes(b"not a png")
    damaged = invoke("data", "verify", "--config", copy / "pyproject.toml")
    assert damaged.exit_code == 4 and "cannot be decoded" in damaged.output and "differs from its checksum" in damaged.output
    assert len(damaged.output.strip().splitlines()) == 3 and "held-out" not in damaged.output and "answer" not in damaged.output


def test_no_train_leaves_train_out_and_a_used_folder_is_refused(cfg, invoke, tmp_path):
    made = invoke("kit", tmp_path / "small", "--no-train", "--config", ROOT / "pyproject.toml")
    assert made.exit_code == 0, made.output
    assert not (tmp_path / "small" / "data" / "train").exists() and (tmp_path / "small" / "data" / "val").is_dir()
    assert "intact" in invoke("data", "verify", "--config", tmp_path / "small" / "pyproject.toml").output
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    refused = invoke("kit", tmp_path / "used", "--config", ROOT / "pyproject.toml")
    assert refused.exit_code == 4 and refused.output.count("\n") == 2 and "not empty" in refused.output  # identity line + error
    assert _files(tmp_path / "used") == {"notes.txt"}
    inner = invoke("kit", tmp_path / "again", "--config", tmp_path / "small" / "pyproject.toml")
    assert inner.exit_code == 4 and "starting kit itself" in inner.output


def test_a_changed_pin_and_another_kits_identity_are_named(kit, tmp_path):
    pins = dict(load_config(kit / "pyproject.toml").pins)
    copy = _copy_kit(kit, tmp_path, pin=(f'ptflops = "{pins["ptflops"]}"', 'ptflops = "0.6.4"'),
                     identity=(f'identity = "{load_config(kit / "pyproject.toml").identity}"', 'identity = "other@0123456789ab"'))
    cfg = load_config(copy / "pyproject.toml")
    assert version_differences(cfg.pins) == [f"ptflops {pins['ptflops']} installed, the kit pins 0.6.4"]
    problem = identity_problem(cfg)
    assert "other@0123456789ab" in problem and pins and "mnist9-longtail@" in problem


@pytest.mark.parametrize("table, named", [
    ({"kit": True}, "identity: missing"),
    ({"kit": True, "identity": "mnist9"}, "identity: expected name@hash"),
    ({"pins": {"torch": 2}}, "pins: expected"),
    ({"identity": "mnist9@0123456789ab"}, "identity: only a starting kit"),
])
def test_kit_keys_are_validated_by_name(repo_table, table, named):
    from harness.config import parse_config

    with pytest.raises(ConfigError, match=named):
        parse_config({**repo_table, **table}, ROOT)


def test_a_board_never_takes_rows_of_both_splits(tmp_path):
    rows = [e for e in read_entries(ROOT / "leaderboard.csv") if e.scored][:2]
    board = tmp_path / "board.csv"
    append_entry(board, dataclasses.replace(rows[0], split="val"))
    with pytest.raises(LeaderboardError, match="validation board.*use another --leaderboard"):
        append_entry(board, rows[1])
    assert [e.split for e in read_entries(board)] == ["val"]


@pytest.mark.slow
def test_check_in_a_kit_gives_the_hosts_macs_and_verdict_and_names_a_changed_pin(kit, invoke, tmp_path):
    pins = dict(load_config(kit / "pyproject.toml").pins)
    copy = _copy_kit(kit, tmp_path, pin=(f'ptflops = "{pins["ptflops"]}"', 'ptflops = "0.6.4"'))
    manifest = copy / "data" / "manifest.json"  # data cut from another competition's kit
    manifest.write_text(re.sub(r'"identity": "[^"]+"', '"identity": "other@0123456789ab"', manifest.read_text()))
    for name, accepted in (("team4", True), ("zoo_shufflenet", True)):
        submission = ROOT / "submissions" / f"{name}.py"
        host = invoke("check", submission, "--json", "--config", ROOT / "pyproject.toml")
        in_kit = invoke("check", submission, "--json", "--config", copy / "pyproject.toml")
        h, k = json_of(host.output), json_of(in_kit.output)
        assert (h["macs"], h["profile_macs"], h["passed"], h["checks"]) == (k["macs"], k["profile_macs"], k["passed"], k["checks"])
        assert k["passed"] is accepted and host.exit_code == in_kit.exit_code == 0
        assert h["competition"] == k["competition"] and h["validation"] is None
        v = k["validation"]
        assert v["split"] == "val" and v["images"] == 278 and 0.5 < v["f1"] <= 1 and abs(v["score"] - v["macs_term"] - v["f1_term"]) < 1e-12
        assert k["version_differences"] == [f"ptflops {pins['ptflops']} installed, the kit pins 0.6.4"]
        assert "other@0123456789ab" in k["identity_problem"] and h["identity_problem"] is None
    shown = invoke("check", submission, "--config", copy / "pyproject.toml")
    assert "score (validation)" in shown.output and "the kit pins 0.6.4" in shown.output and "may differ" in shown.output
    assert "cut from competition other@0123456789ab" in shown.output


@pytest.mark.slow
def test_a_new_competitor_in_a_fresh_kit_and_the_hosts_commands_refuse_the_board(kit, invoke, tmp_path, monkeypatch):
    copy = _copy_kit(kit, tmp_path)
    shutil.copy(ROOT / "submissions" / "team4.py", copy)
    shutil.copy(ROOT / "submissions" / "team4.pt", copy)
    monkeypatch.delenv("HARNESS_CONFIG", raising=False)
    monkeypatch.chdir(copy)  # ./pyproject.toml is the kit's; nothing of the host is reachable
    no_test = invoke("evaluate", "team4.py", "--split", "test")
    assert no_test.exit_code == 4 and "no held-out split" in no_test.output
    scored = invoke("evaluate", "team4.py", "--json")  # --split val is the default in a kit
    assert scored.exit_code == 0, scored.output
    d = json_of(scored.output)
    assert d["split"] == "val" and d["remaining_today"] is None and d["competition"] == load_config(copy / "pyproject.toml").identity
    entry = read_entries(copy / "leaderboard.csv")[0]
    assert (entry.split, entry.private_f1, entry.private_score, entry.public_score) == ("val", None, None, d["score"])
    board = invoke("leaderboard", "--json")
    b = json_of(board.output)
    assert b["board"] == "validation" and b["intervals"] and b["rows"][0]["ci_low"] <= d["score"] <= b["rows"][0]["ci_high"]
    assert "validation board" in invoke("leaderboard").output
    assert invoke("leaderboard", "--html", "board.html").exit_code == 0 and "Validation board" in (copy / "board.html").read_text()
    assert invoke("history", "team4", "--plot", "team4.png").exit_code == 0 and (copy / "team4.png").stat().st_size > 0
    host = ROOT / "pyproject.toml"
    for args in (("evaluate", ROOT / "submissions" / "team4.py"), ("rescore",), ("select", "team4", "1"),
                 ("leaderboard", "--private", "--reveal"), ("forecast",)):
        refused = invoke(*args, "--leaderboard", copy / "leaderboard.csv", "--config", host)
        assert refused.exit_code == 5 and "validation board" in refused.output, (args, refused.output)
        lines = [line for line in refused.output.splitlines() if line.strip() and not line.startswith("competition ")]
        assert len(lines) == 1 and lines[0].startswith("error: ")
    assert len(read_entries(copy / "leaderboard.csv")) == 1 and not list(copy.glob("*.bak"))
    hosts = shutil.copy(ROOT / "leaderboard.csv", tmp_path / "hosts.csv")
    mixed = invoke("evaluate", "team4.py", "--split", "val", "--leaderboard", hosts)
    assert mixed.exit_code == 5 and "held-out" in mixed.output
    assert read_entries(hosts) == read_entries(ROOT / "leaderboard.csv")


def test_a_kit_of_the_budget_format_carries_its_format_and_caps(tmp_path):
    host = load_config(ROOT / "examples" / "size-budget.toml")
    made = cut_kit(host, tmp_path / "kit")
    kit_cfg = load_config(made.root / "pyproject.toml")
    assert kit_cfg.rule == host.rule and kit_cfg.rule.scoring == "budget" and kit_cfg.identity.startswith("mnist9-size-budget@")
