"""The leaderboard simulator: quotas, final picks, private reveal, confidence, rescoring, plots."""
import struct
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, json_of
from harness import board
from harness.errors import LeaderboardError, QuotaError
from harness.evaluate import new_entry, score_parts
from harness.leaderboard import COLUMNS, STATUS_SCORED, append_entry, check_quota, encode_predictions, read_entries

NOON = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def _predictions(key, public_error: float, private_error: float, seed: int) -> np.ndarray:
    """Labels with a chosen share of errors on each part."""
    rng = np.random.default_rng(seed)
    predictions = key.labels.copy()
    error = np.where(key.public, public_error, private_error)
    flip = rng.random(len(predictions)) < error
    predictions[flip] = (predictions[flip] + rng.integers(1, 9, flip.sum())) % 9
    return predictions


def add(lb, cfg, key, team, macs, public_error, private_error=None, when=NOON, seed=0):
    predictions = _predictions(key, public_error, public_error if private_error is None else private_error, seed)
    logits = np.eye(9)[predictions]
    s = score_parts(logits, key, macs, cfg)
    entry = replace(
        new_entry(ROOT / "submissions" / "team4.py", team, cfg, when), status=STATUS_SCORED, macs=macs, params=1,
        input_size="28x28", profile_macs=f'{{"2021": {macs}, "modern": {macs + 100}}}', public_f1=s.public_f1,
        private_f1=s.private_f1, public_score=s.public.total, private_score=s.private.total,
        predictions=encode_predictions(predictions))
    return append_entry(lb, entry, daily_limit=cfg.daily_limit)


def add_failed(lb, cfg, team, when=NOON):
    return append_entry(lb, replace(new_entry(ROOT / "submissions" / "team4.py", team, cfg, when), failure="crashed", message="boom"))


def test_quota_counts_scored_rows_per_utc_day_and_not_failures(tmp_path, cfg, key):
    cfg = replace(cfg, daily_limit=2)
    lb = tmp_path / "lb.csv"
    add(lb, cfg, key, "a", 100_000, 0.1, when=NOON - timedelta(hours=12, seconds=1))  # 23:59:59 the day before
    for _ in range(3):
        add_failed(lb, cfg, "a")
    assert check_quota(lb, "a", 2, NOON) == 2
    add(lb, cfg, key, "a", 100_000, 0.1)
    assert check_quota(lb, "a", 2, NOON) == 1
    add(lb, cfg, key, "a", 100_000, 0.1)
    with pytest.raises(QuotaError, match="UTC"):
        check_quota(lb, "a", 2, NOON)
    with pytest.raises(QuotaError):
        add(lb, cfg, key, "a", 100_000, 0.1)  # the append itself enforces the quota under the lock
    assert check_quota(lb, "a", 2, NOON + timedelta(hours=12)) == 2  # 00:00 UTC: a new day
    assert check_quota(lb, "b", 2, NOON) == 2


def test_cli_refuses_an_over_quota_submission(invoke, write_config, tmp_path):
    config = write_config(daily_limit=1)
    lb = tmp_path / "lb.csv"
    first = invoke("evaluate", ROOT / "submissions" / "team7.py", "--leaderboard", lb, "--config", config)
    assert first.exit_code == 0, first.output
    assert "0 submission(s) left today" in first.output
    second = invoke("evaluate", ROOT / "submissions" / "team7.py", "--leaderboard", lb, "--config", config)
    assert second.exit_code == 6 and "used its 1 submissions" in second.output
    assert len(read_entries(lb)) == 1


def test_automatic_and_manual_final_selection(tmp_path, cfg, key):
    lb = tmp_path / "lb.csv"
    good = add(lb, cfg, key, "a", 100_000, 0.05, 0.30, seed=1)   # best public, poor private
    mid = add(lb, cfg, key, "a", 100_000, 0.10, 0.05, seed=2)    # second public, best private
    worst = add(lb, cfg, key, "a", 100_000, 0.30, 0.01, seed=3)  # not picked automatically
    auto = board.final_entries(read_entries(lb), {}, limit=2)["a"]
    assert {e.id for e in auto} == {good.id, mid.id}
    board.select_final(lb, "a", [worst.id], limit=2)
    assert board.read_picks(lb) == {"a": [worst.id]}
    manual = board.final_entries(read_entries(lb), board.read_picks(lb), limit=2)["a"]
    assert [e.id for e in manual] == [worst.id]


def test_selection_errors(tmp_path, cfg, key):
    lb = tmp_path / "lb.csv"
    mine = add(lb, cfg, key, "a", 100_000, 0.1)
    theirs = add(lb, cfg, key, "b", 100_000, 0.1)
    failed = add_failed(lb, cfg, "a")
    with pytest.raises(LeaderboardError, match="belongs to 'b'"):
        board.select_final(lb, "a", [theirs.id], 2)
    with pytest.raises(LeaderboardError, match="at most 2"):
        board.select_final(lb, "a", [mine.id, mine.id, mine.id], 2)
    with pytest.raises(LeaderboardError, match="only scored"):
        board.select_final(lb, "a", [failed.id], 2)
    with pytest.raises(LeaderboardError, match="no submission with id 99"):
        board.select_final(lb, "a", [99], 2)


def test_private_reveal_and_shake_up(tmp_path, cfg, key, invoke):
    lb = tmp_path / "lb.csv"
    add(lb, cfg, key, "overfit", 100_000, 0.02, 0.40, seed=1)
    add(lb, cfg, key, "steady", 100_000, 0.10, 0.08, seed=2)
    add(lb, cfg, key, "third", 100_000, 0.20, 0.20, seed=3)
    public = board.public_board(read_entries(lb), cfg, key)
    assert [s.team for s in public] == ["overfit", "steady", "third"]
    private = board.private_board(read_entries(lb), {}, cfg, key)
    assert [s.team for s in private] == ["steady", "third", "overfit"]
    change = {s.team: (s.public_rank, s.private_rank, s.change) for s in private}
    assert change == {"steady": (2, 1, 1), "third": (3, 2, 1), "overfit": (1, 3, -2)}
    public_json = invoke("leaderboard", "--leaderboard", lb, "--json")
    assert public_json.exit_code == 0 and "private" not in public_json.output.lower()
    private_json = json_of(invoke("leaderboard", "--leaderboard", lb, "--json", "--private").output)
    assert private_json["board"] == "private" and private_json["rows"][0]["change"] == 1
    table = invoke("leaderboard", "--leaderboard", lb, "--private")
    assert "public #" in table.output and "-2" in table.output


def test_bootstrap_interval_covers_the_score_and_is_reproducible(tmp_path, cfg, key):
    lb = tmp_path / "lb.csv"
    entry = add(lb, cfg, key, "a", 300_000, 0.12)
    first = board.bootstrap_scores([entry], key, "public", cfg.reference, 500, seed=0, num_classes=9)[entry.id]
    again = board.bootstrap_scores([entry], key, "public", cfg.reference, 500, seed=0, num_classes=9)[entry.id]
    other = board.bootstrap_scores([entry], key, "public", cfg.reference, 500, seed=1, num_classes=9)[entry.id]
    assert first == again and first != other
    assert first[0] <= entry.public_score <= first[1]
    assert first[1] - first[0] > 0.01  # a few hundred images: the noise is real


def test_tie_groups_on_close_scores(tmp_path, cfg, key):
    lb = tmp_path / "lb.csv"
    add(lb, cfg, key, "a", 200_000, 0.10, seed=1)
    add(lb, cfg, key, "b", 200_000, 0.11, seed=2)   # within noise of a
    add(lb, cfg, key, "c", 2_000_000, 0.10, seed=3)  # far behind on MACs
    standings = board.public_board(read_entries(lb), cfg, key)
    groups = {s.team: s.tie_group for s in standings}
    assert groups["a"] == groups["b"] == 1 and groups["c"] == 2
    assert board.tie_groups([(0.1, 0.2), (0.25, 0.3)]) == [1, 2]


def test_rescore_keeps_the_original_values(tmp_path, cfg, key, write_config, invoke):
    lb = tmp_path / "lb.csv"
    entry = add(lb, cfg, key, "a", 300_000, 0.12)
    config = write_config(reference_macs=cfg.reference.macs * 2, profile="modern")
    result = invoke("rescore", "--leaderboard", lb, "--config", config)
    assert result.exit_code == 0, result.output
    (row,) = read_entries(lb)
    assert row.original_public_score == pytest.approx(entry.public_score)
    assert row.original_ref_macs == cfg.reference.macs and row.original_profile == "2021"
    assert row.profile == "modern" and row.macs == 300_100 and row.ref_macs == cfg.reference.macs * 2
    assert row.public_score == pytest.approx(300_100 / (2 * cfg.reference.macs) + (entry.public_score - 300_000 / cfg.reference.macs))
    assert list(tmp_path.glob("lb.csv.*.bak"))
    invoke("rescore", "--leaderboard", lb, "--config", config)  # a second rescore keeps the first originals
    assert read_entries(lb)[0].original_public_score == pytest.approx(entry.public_score)
    board_json = json_of(invoke("leaderboard", "--leaderboard", lb, "--json", "--config", config).output)
    assert board_json["row_configs"] == [f"profile=modern ref_macs={cfg.reference.macs * 2} ref_f1={cfg.reference.f1:.4f}"]


def test_the_private_board_and_rescore_use_the_private_reference_macs(tmp_path, cfg, key, write_config, invoke):
    lb = tmp_path / "lb.csv"
    add(lb, cfg, key, "a", 300_000, 0.12, 0.2)
    config = write_config(reference_private_macs=cfg.reference.macs * 4)
    assert invoke("rescore", "--leaderboard", lb, "--config", config).exit_code == 0
    (row,) = read_entries(lb)
    own = replace(cfg, reference_private_macs=cfg.reference.macs * 4)
    assert row.private_score == score_parts(np.eye(9)[_predictions(key, 0.12, 0.2, 0)], key, 300_000, own).private.total
    assert row.public_score == pytest.approx(read_entries(lb)[0].original_public_score)  # the public board keeps reference_macs
    private = json_of(invoke("leaderboard", "--leaderboard", lb, "--json", "--private", "--config", config).output)
    assert private["rows"][0]["score"] == row.private_score


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_plots_write_pngs_of_the_expected_size(tmp_path, cfg, key, invoke):
    lb = tmp_path / "lb.csv"
    for i, (team, macs, err) in enumerate([("a", 200_000, 0.1), ("a", 150_000, 0.15), ("b", 900_000, 0.05), ("c", 50_000, 0.4)]):
        add(lb, cfg, key, team, macs, err, when=NOON + timedelta(hours=i), seed=i)
    result = invoke("leaderboard", "--leaderboard", lb, "--plot", tmp_path / "board.png")
    assert result.exit_code == 0, result.output
    assert _png_size(tmp_path / "board.png") == (800, 600)
    result = invoke("history", "a", "--leaderboard", lb, "--plot", tmp_path / "a.png")
    assert result.exit_code == 0, result.output
    assert _png_size(tmp_path / "a.png") == (800, 600)


def test_history_and_all_attempts(tmp_path, cfg, key, invoke):
    lb = tmp_path / "lb.csv"
    add(lb, cfg, key, "a", 300_000, 0.2, when=NOON, seed=1)
    add_failed(lb, cfg, "a", when=NOON + timedelta(minutes=5))
    add(lb, cfg, key, "a", 200_000, 0.1, when=NOON + timedelta(minutes=10), seed=2)
    rows = json_of(invoke("history", "a", "--leaderboard", lb, "--json").output)["rows"]
    assert [r["status"] for r in rows] == ["scored", "failed", "scored"]
    assert rows[2]["best_so_far"] == pytest.approx(min(rows[0]["score"], rows[2]["score"]))
    attempts = json_of(invoke("leaderboard", "--all", "--leaderboard", lb, "--json").output)["attempts"]
    assert len(attempts) == 3 and attempts[1]["failure"] == "crashed"
    unknown = invoke("history", "nobody", "--leaderboard", lb)
    assert unknown.exit_code != 0 and "no submissions by team 'nobody'" in unknown.output


def test_pareto_front():
    from harness.plots import pareto_front

    assert pareto_front([(1, 0.5), (2, 0.9), (3, 0.8), (0.5, 0.4)]) == [3, 0, 1]


def _drop_column(path: Path, column: str) -> None:
    """Rewrite a board as the schema before `column` existed wrote it."""
    import csv

    rows = list(csv.reader(path.open(newline="")))
    i = rows[0].index(column)
    with path.open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([r[:i] + r[i + 1:] for r in rows])


def test_a_board_without_profile_version_reads_as_version_1_and_is_upgraded_on_append(tmp_path, cfg, key):
    lb = tmp_path / "lb.csv"
    first = add(lb, cfg, key, "a", 300_000, 0.12)
    assert first.profile_version == 2
    _drop_column(lb, "profile_version")
    (old,) = read_entries(lb)
    assert old.profile_version == 1 and replace(old, profile_version=2) == first
    add(lb, cfg, key, "b", 200_000, 0.1)
    assert lb.read_text().splitlines()[0].split(",") == list(COLUMNS)
    assert [e.profile_version for e in read_entries(lb)] == [1, 2]


def test_rescore_leaves_rows_counted_by_an_older_profile_definition_and_says_so(tmp_path, cfg, key, write_config, invoke):
    lb = tmp_path / "lb.csv"
    add(lb, cfg, key, "a", 300_000, 0.12)
    _drop_column(lb, "profile_version")  # counted when "2021" was not yet ptflops 0.6.4's table
    add(lb, cfg, key, "b", 200_000, 0.1)
    config = write_config(reference_macs=cfg.reference.macs * 2)
    result = invoke("rescore", "--leaderboard", lb, "--config", config)
    assert result.exit_code == 0, result.output
    assert "1 row(s) were counted by an older definition of profile 2021" in result.output
    old, new = read_entries(lb)
    assert old.ref_macs == cfg.reference.macs and not old.rescored_utc  # left as it was
    assert new.ref_macs == 2 * cfg.reference.macs and new.rescored_utc
    modern = write_config(profile="modern")  # "modern" has not changed since version 1
    assert invoke("rescore", "--leaderboard", lb, "--config", modern).exit_code == 0
    assert all(e.profile == "modern" for e in read_entries(lb))
