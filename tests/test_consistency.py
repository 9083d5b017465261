"""The board is never stale: every view scores under the current reference values; a weak reference is named."""
from dataclasses import replace

import pytest

from conftest import ROOT, json_of
from harness import board
from harness.leaderboard import read_entries
from harness.scoring import Reference, compute_score, total
from test_board import add


def test_the_committed_board_reads_bit_identical_under_its_own_values(cfg):
    entries = read_entries(ROOT / "leaderboard.csv")
    current = board.on_current_values(entries, cfg)
    assert current.rescored == 0 and current.stale == 0
    assert current.entries == entries  # every score bit-identical, nothing recomputed


def test_after_the_reference_changes_every_view_scores_under_the_new_values(tmp_path, cfg, key, write_config, invoke):
    lb = tmp_path / "lb.csv"
    add(lb, cfg, key, "a", 300_000, 0.10, 0.12, seed=1)
    add(lb, cfg, key, "b", 200_000, 0.30, 0.05, seed=2)
    before = lb.read_bytes()
    new_pub, new_priv = Reference(cfg.reference.macs * 2, 0.95), Reference(cfg.reference.macs * 3, 0.90)
    config = write_config(reference_macs=new_pub.macs, reference_f1=new_pub.f1, reference_private_macs=new_priv.macs,
                          reference_private_f1=new_priv.f1)
    rows = {e.team: e for e in read_entries(lb)}
    public = {t: total(e.macs, e.public_f1, new_pub) for t, e in rows.items()}
    private = {t: total(e.macs, e.private_f1, new_priv) for t, e in rows.items()}

    shown = invoke("leaderboard", "-l", lb, "--config", config)
    assert shown.exit_code == 0 and "shown rescored" in shown.output and "harness rescore" in shown.output
    pub = json_of(invoke("leaderboard", "-l", lb, "--json", "--config", config).output)
    assert {r["team"]: r["score"] for r in pub["rows"]} == public
    assert all(r["ci_low"] <= r["score"] <= r["ci_high"] for r in pub["rows"])  # interval and score under one set of values
    assert pub["row_configs"] == [f"profile=2021 ref_macs={new_pub.macs} ref_f1=0.9500"] == [pub["config"]]
    priv = json_of(invoke("leaderboard", "-l", lb, "--json", "--private", "--config", config).output)
    assert {r["team"]: r["score"] for r in priv["rows"]} == private
    assert priv["config"] == f"profile=2021 ref_macs={new_priv.macs} ref_f1=0.9000 (private board)" == priv["row_configs"][0]
    attempts = json_of(invoke("leaderboard", "-l", lb, "--json", "--all", "--config", config).output)["attempts"]
    assert {a["team"]: a["public_score"] for a in attempts} == public
    history = json_of(invoke("history", "a", "-l", lb, "--json", "--config", config).output)
    assert history["rows"][0]["score"] == public["a"]
    forecast = json_of(invoke("forecast", "-l", lb, "--json", "--draws", "50", "--config", config).output)
    assert {t["team"]: t["public_score"] for t in forecast["teams"]} == public
    assert (forecast["reference_macs"], forecast["reference_f1"]) == (new_priv.macs, new_priv.f1)  # the private board's
    page = tmp_path / "board.html"
    assert invoke("leaderboard", "-l", lb, "--html", page, "--config", config).exit_code == 0
    assert f"{public['a']:.4f}" in page.read_text() and f"ref_macs={new_pub.macs}" in page.read_text()
    assert lb.read_bytes() == before  # a view never writes the board


def test_rows_without_macs_for_the_profile_are_named_not_mixed_in_silently(tmp_path, cfg, key, write_config, invoke):
    lb = tmp_path / "lb.csv"
    add(lb, cfg, key, "a", 300_000, 0.10)
    entries = [replace(e, profile_macs="{}") for e in read_entries(lb)]
    current = board.on_current_values(entries, replace(cfg, pinned_reference=Reference(cfg.reference.macs * 2, cfg.reference.f1)))
    assert current.stale == 1 and current.entries == entries


def test_a_weak_reference_has_its_true_terms_and_the_panel_names_the_board():
    weak = Reference(10_000, 0.12)
    own = compute_score(weak.macs, weak.f1, weak)
    assert (own.macs_term, own.f1_term, own.total) == (1.0, 1.0, 2.0)  # below F1 0.5 the reference itself pays 1.0
    from harness.scoring import reference_warning

    assert "below 0.5" in reference_warning(0.49) and "harness reference --write" in reference_warning(0.49)
    assert reference_warning(0.5) is None


WEAK = '''
import torch
from torch import nn

INPUT_SIZE = (28, 28)
TEAM = "reference"


def build_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 1, 4, stride=4), nn.Flatten(), nn.Linear(49, 9)).eval()
'''


@pytest.mark.slow
def test_a_weak_reference_is_warned_about_by_reference_check_and_evaluate(tmp_path, write_config, invoke):
    (tmp_path / "weak.py").write_text(WEAK)
    config = write_config(reference=str(tmp_path / "weak.py"))
    written = invoke("reference", "--write", "--config", config)
    assert written.exit_code == 0, written.output
    assert "below 0.5" in written.output and "harness init --reference cnn" in written.output
    checked = invoke("check", tmp_path / "weak.py", "--config", config)
    assert "warning: the reference's macro-F1" in checked.output
    evaluated = invoke("evaluate", tmp_path / "weak.py", "--config", config, "-l", tmp_path / "lb.csv")
    assert evaluated.exit_code == 0, evaluated.output
    assert str((tmp_path / "lb.csv").resolve()) in evaluated.output.replace("\n", "")
    reference_column = [line.strip(" │").split()[-1] for line in evaluated.output.splitlines() if "term" in line or "score (public)" in line]
    assert reference_column == ["1.0000", "1.0000", "2.0000"]


def test_small_points_paused_submissions_suggestions_duplicate_ids_and_shared_files(tmp_path, cfg, key, write_config, invoke):
    from harness.errors import LeaderboardError, QuotaError
    from harness.leaderboard import check_quota
    from harness.render import shared_files

    lb = tmp_path / "lb.csv"
    add(lb, cfg, key, "gamma", 300_000, 0.10, seed=1)
    with pytest.raises(QuotaError, match="paused"):
        check_quota(lb, "gamma", 0)
    paused = invoke("evaluate", ROOT / "submissions" / "team4.py", "-l", lb, "--config", write_config(daily_limit=0))
    assert paused.exit_code != 0 and "paused" in paused.output and len(read_entries(lb)) == 1
    typo = invoke("history", "gama", "-l", lb)
    assert typo.exit_code != 0 and "did you mean 'gamma'?" in typo.output
    add(lb, cfg, key, "delta", 300_000, 0.10, seed=1)
    assert shared_files(read_entries(lb)) == ["the same file was submitted by gamma (row 1) and delta (row 2)"]
    assert "the same file was submitted by gamma" in invoke("leaderboard", "-l", lb, "--all").output
    lines = lb.read_text().splitlines()
    merged = tmp_path / "merged.csv"
    merged.write_text("\n".join([lines[0], lines[1], lines[1].replace("gamma", "omega", 1)]) + "\n")
    with pytest.raises(LeaderboardError, match="repeats the id of line 2"):
        read_entries(merged)


def test_system_files_are_ignored_alike_and_the_weights_rule_is_named(tmp_path):
    from harness.data import dataset_problems, write_manifest
    from harness.submission import stem_rule
    import shutil

    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    (data / "test" / ".DS_Store").write_bytes(b"\0\1junk")
    (data / "train" / "0" / ".DS_Store").write_bytes(b"\0\1junk")
    from harness.config import load_config

    classes = load_config(ROOT / "pyproject.toml").classes
    assert dataset_problems(data, classes) == []  # not in the manifest, not an image, not answered: none of it applies
    write_manifest(data, classes)
    assert ".DS_Store" not in (data / "manifest.json").read_text()
    (data / "test" / "notes.txt").write_text("host notes")
    assert any("notes.txt: not an image" in p for p in dataset_problems(data, classes))
    assert "rename weights.pt to alpha.pt" in stem_rule(tmp_path / "alpha.py", str(tmp_path / "weights.pt"))


def test_exact_ties_and_dropped_columns_are_stated(tmp_path, cfg, key, invoke):
    from rich.console import Console

    from harness.render import board_table

    lb = tmp_path / "lb.csv"
    add(lb, cfg, key, "b", 300_000, 0.10, seed=1)
    add(lb, cfg, key, "c", 300_000, 0.10, seed=1)  # the same predictions and MACs: an exact tie
    shown = invoke("leaderboard", "-l", lb)
    assert "exact tie: b, c score" in " ".join(shown.output.split())
    standings = board.public_board(read_entries(lb), cfg, key)
    narrow = Console(width=60, record=True)
    narrow.print(board_table(standings, False, {"board": "public", "resamples": 10, "row_configs": [], "config": ""}, width=60))
    assert "left out at this width: tie, id, subs" in " ".join(narrow.export_text().split())


def test_all_attempts_fit_80_columns_with_a_long_reason(tmp_path, cfg, key):
    from rich.console import Console

    from harness.leaderboard import append_entry
    from harness.render import attempts_table
    from test_board import add_failed

    lb = tmp_path / "lb.csv"
    add(lb, cfg, key, "a", 300_000, 0.10)
    failed = add_failed(lb, cfg, "b")
    long = replace(failed, id=0, message="the verifier found uncounted compute in " + "module.block " * 30)
    append_entry(lb, long)
    narrow = Console(width=80, record=True)
    narrow.print(attempts_table(read_entries(lb), False))
    lines = narrow.export_text().splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert sum("crashed" in line for line in lines) == 2 and len(lines) < 14  # one line per attempt, reasons cut
