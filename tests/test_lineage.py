"""Answer-key corrections: a fixed label and a removed test image keep every board's rows, rescored."""
import csv
import json
import shutil
from dataclasses import replace

import pytest

from conftest import ROOT, json_of
from harness.config import load_config
from harness.data import competition_identity, open_dataset, read_answer_key
from harness.leaderboard import append_entry, decode_predictions, read_entries
from harness.metrics import macro_f1
from test_board import add


@pytest.fixture
def copy(tmp_path, write_config):
    """A copy of the repository's data set, a configuration on it, and two boards of its rows."""
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    config = write_config(data=str(data))
    cfg = load_config(config)
    identity = competition_identity(cfg.name, data)
    key = read_answer_key(open_dataset(data, cfg.classes))
    boards = tmp_path / "lb.csv", tmp_path / "other.csv"
    for lb in boards:
        for team, error, seed in (("a", 0.10, 1), ("b", 0.15, 2)):
            add(lb, cfg, key, team, 300_000, error, seed=seed)
        rows = [replace(e, competition=identity) for e in read_entries(lb)]
        lb.unlink()
        for e in rows:
            append_entry(lb, e)
    return data, config, identity, boards


def _corrected(data, tmp_path, label: str) -> tuple:
    rows = list(csv.DictReader((data / "answers.csv").open()))
    first_public = next(r for r in rows if r["part"] == "public")
    first_public["label"] = label if first_public["label"] != label else rows[-1]["label"]
    removed = next(r["image"] for r in rows if r["part"] == "private")
    fixed = tmp_path / "answers-fixed.csv"
    with fixed.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["image", "label", "part"])
        writer.writeheader()
        writer.writerows(r for r in rows if r["image"] != removed)
    return fixed, removed


def test_a_fixed_label_and_a_removed_image_rescore_every_row_from_its_predictions(copy, tmp_path, invoke):
    data, config, old, (lb, other) = copy
    before = {e.team: e for e in read_entries(lb)}
    old_names = sorted(p.name for p in (data / "test").iterdir())
    fixed, removed = _corrected(data, tmp_path, "1")
    result = invoke("data", "fix-labels", "--answers", fixed, "--remove", removed, "-l", lb, "--config", config)
    assert result.exit_code == 0, result.output
    assert "1 label(s) changed, 1 image(s) removed" in result.output and "harness reference --write" in result.output
    cfg = load_config(config)
    new = competition_identity(cfg.name, data)
    assert new != old and old in json.loads((data / "lineage.json").read_text())["identities"]
    assert not (data / "test" / removed).exists() and list((data / "fixes").glob(f"*/{removed}"))
    key = read_answer_key(open_dataset(data, cfg.classes))
    keep = [i for i, n in enumerate(old_names) if n != removed]
    for e in read_entries(lb):
        predictions = decode_predictions(before[e.team].predictions)[keep]
        assert e.competition == new and len(decode_predictions(e.predictions)) == len(key.labels)
        assert e.public_f1 == macro_f1(key.labels[key.public], predictions[key.public], cfg.num_classes)
        assert e.private_f1 == macro_f1(key.labels[key.private], predictions[key.private], cfg.num_classes)
        assert e.original_public_score == before[e.team].public_score
    moved = invoke("leaderboard", "-l", lb, "--all", "--config", config)
    assert moved.exit_code == 0 and "was" in moved.output and f"{before['a'].public_score:.4f}" in moved.output

    stale = invoke("leaderboard", "-l", other, "--config", config)  # a board not rescored yet: refused with the command
    assert stale.exit_code != 0 and f"harness rescore --leaderboard {other}" in stale.output
    assert invoke("rescore", "-l", other, "--config", config).exit_code == 0
    assert [e.public_f1 for e in read_entries(other)] == [e.public_f1 for e in read_entries(lb)]
    assert json_of(invoke("leaderboard", "-l", other, "--json", "--config", config).output)["competition"] == new


def test_a_bad_correction_changes_nothing(copy, tmp_path, invoke):
    data, config, old, (lb, _) = copy
    before = lb.read_bytes(), (data / "answers.csv").read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text((data / "answers.csv").read_text().replace(",public", ",nowhere", 1))
    result = invoke("data", "fix-labels", "--answers", bad, "-l", lb, "--config", config)
    assert result.exit_code != 0 and "nowhere" in result.output and "Traceback" not in result.output
    assert (lb.read_bytes(), (data / "answers.csv").read_bytes()) == before
    assert competition_identity(load_config(config).name, data) == old and not (data / "lineage.json").exists()
    nothing = invoke("data", "fix-labels", "--config", config)
    assert nothing.exit_code != 0 and "nothing to fix" in nothing.output
