"""The budget format: a metric (higher is better) under caps on stored bytes, parameters and MACs.

Fast tests rescore a copy of the committed board (its rows hold real predictions, MACs and
parameters) under budget configurations; the slow ones evaluate the zoo's int8 entry and
the reference under `examples/size-budget.toml` and caps set at its exact size.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from conftest import ROOT, json_of

from harness.board import final_entries, history, private_board, public_board, rescore
from harness.config import load_config, parse_rule
from harness.errors import ConfigError
from harness.forecast import backtest, forecast_board
from harness.isolation import submission_bytes, submission_files
from harness.leaderboard import decode_predictions, read_entries
from harness.metrics import accuracy, weighted_accuracy, weighted_metric
from harness.scoring import Caps, Rule

EXAMPLE = ROOT / "examples" / "size-budget.toml"
QUANTIZED = ROOT / "submissions" / "zoo_quantized.py"


@pytest.fixture
def board(tmp_path):
    """A copy of the committed board (10 teams, every zoo entry, scored under 2021)."""
    path = tmp_path / "board.csv"
    shutil.copy(ROOT / "leaderboard.csv", path)
    return path


def budget(write_config, **table):
    return load_config(write_config(scoring="budget", **table))


# --- configuration -------------------------------------------------------------------

def test_the_default_is_the_2021_format_and_budget_keys_parse(cfg, write_config):
    assert cfg.rule == Rule() and not cfg.rule.higher_is_better and cfg.rule.score_name == "score"
    b = budget(write_config, metric="accuracy", max_weights_bytes=32768, max_macs=10)
    assert b.rule == Rule("budget", "accuracy", Caps(max_weights_bytes=32768, max_macs=10))
    assert b.rule.higher_is_better and b.config_id.startswith("scoring=budget metric=accuracy max_weights_bytes=32768 max_macs=10")
    assert budget(write_config).rule.metric == "macro_f1"  # the default metric


@pytest.mark.parametrize(("table", "key"), [
    ({"scoring": "kaggle"}, "scoring"),
    ({"scoring": "budget", "metric": "top5"}, "metric"),
    ({"scoring": "budget", "max_params": 0}, "max_params"),
    ({"scoring": "budget", "max_macs": -5}, "max_macs"),
    ({"scoring": "budget", "max_weights_bytes": 1.5}, "max_weights_bytes"),
    ({"scoring": "budget", "max_weights_bytes": True}, "max_weights_bytes"),
    ({"metric": "accuracy"}, "metric"),
    ({"max_weights_bytes": 1000}, "max_weights_bytes"),
])
def test_bad_format_keys_are_errors_naming_the_key(table, key):
    with pytest.raises(ConfigError, match=rf"^\[tool.harness\] {key}:"):
        parse_rule(table)


def test_a_bad_format_key_is_one_line_and_exit_3(write_config, invoke, tmp_path):
    result = invoke("leaderboard", "--config", write_config(scoring="budget", max_params=-1), "-l", tmp_path / "b.csv")
    assert result.exit_code == 3 and "max_params: must be positive" in result.output and "Traceback" not in result.output


# --- the metric --------------------------------------------------------------------------

def test_accuracy_matches_scikit_learn_plain_and_weighted():
    rng = np.random.default_rng(7)
    for n, classes in ((1, 2), (17, 3), (200, 9)):
        labels, predictions = rng.integers(0, classes, n), rng.integers(0, classes, (4, n))
        weights = rng.integers(0, 4, (5, n))
        weights[1:, 0] += 1
        weights[0] = 0  # a weighting of no image scores 0
        got = weighted_accuracy(labels, predictions, weights)
        for e, p in enumerate(predictions):
            assert accuracy(labels, p) == pytest.approx(accuracy_score(labels, p), abs=1e-12)
            for d, w in enumerate(weights[1:], start=1):
                assert got[e, d] == pytest.approx(accuracy_score(labels, p, sample_weight=w), abs=1e-12)
            assert got[e, 0] == 0.0
        assert np.array_equal(weighted_metric("accuracy", labels, predictions, weights, classes), got)


# --- caps: exactly at the limit, and one over ----------------------------------------------

def test_each_cap_exactly_at_its_limit_fits_and_one_over_does_not():
    measured = {"weights_bytes": 29_499, "params": 24_281, "macs": 2_211_465}
    for key, quantity in (("max_weights_bytes", "weights_bytes"), ("max_params", "params"), ("max_macs", "macs")):
        at = Rule("budget", "accuracy", Caps(**{key: measured[quantity]}))
        (check,) = at.checks(measured)
        assert check.within and check.headroom == 0 and not at.breaches(measured)
        over = Rule("budget", "accuracy", Caps(**{key: measured[quantity] - 1}))
        (breach,) = over.breaches(measured)
        assert breach.headroom == -1
        assert breach.line().endswith(f"exceed the cap {key} = {measured[quantity] - 1:,} (1 over)")
        assert f"{measured[quantity]:,}" in breach.line()


def test_submission_bytes_sum_the_source_and_every_same_stem_file():
    files = submission_files(QUANTIZED)
    assert {f.name for f in files} == {"zoo_quantized.py", "zoo_quantized.pt"}
    assert submission_bytes(files) == QUANTIZED.stat().st_size + QUANTIZED.with_suffix(".pt").stat().st_size


@pytest.mark.parametrize(("cap", "column"), [("max_params", "params"), ("max_macs", "macs")])
def test_rescore_keeps_a_row_at_the_cap_and_fails_one_unit_over(board, write_config, key, cap, column):
    team4 = next(e for e in read_entries(board) if e.team == "team4")
    limit = getattr(team4, column)
    at = rescore(board, budget(write_config, **{cap: limit}), key=key)
    rows = {e.team: e for e in read_entries(board)}
    assert rows["team4"].scored and rows["team4"].scoring == "budget/macro_f1"
    over_limit = budget(write_config, **{cap: limit - 1})
    shutil.copy(ROOT / "leaderboard.csv", board)
    rescore(board, over_limit, key=key)
    failed = {e.team: e for e in read_entries(board)}["team4"]
    assert failed.status == "failed" and failed.failure == "over_budget"
    assert f"{limit:,} exceed the cap {cap} = {limit - 1:,} (1 over)" in failed.message
    assert failed.original_public_score == team4.public_score
    assert at.over_budget == sum(getattr(e, column) > limit for e in read_entries(ROOT / "leaderboard.csv") if e.scored)


def test_rescore_under_a_byte_cap_refuses_rows_whose_size_was_never_recorded(board, write_config, key):
    result = rescore(board, budget(write_config, max_weights_bytes=10**9), key=key)
    assert result.done == 0 and result.over_budget == 10
    assert all("stored bytes were not recorded" in e.message for e in read_entries(board))


# --- boards, intervals, private board, forecast: higher is better ------------------------------

def test_budget_boards_rank_by_accuracy_higher_first(board, write_config, key, invoke):
    cfg = budget(write_config, metric="accuracy")
    rescore(board, cfg, key=key)
    entries = read_entries(board)
    for e in entries:  # each score is scikit-learn's accuracy on the part
        p = decode_predictions(e.predictions)
        assert e.public_score == pytest.approx(accuracy_score(key.labels[key.public], p[key.public]), abs=1e-12)
        assert e.private_score == pytest.approx(accuracy_score(key.labels[key.private], p[key.private]), abs=1e-12)
    standings = public_board(entries, cfg, key)
    scores = [s.score for s in standings]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) > 3
    for s in standings:
        assert s.ci_low <= s.score <= s.ci_high
    assert standings[0].tie_group == 1
    groups = [s.tie_group for s in standings]
    assert groups == sorted(groups)
    private = private_board(entries, {}, cfg, key)
    assert [s.score for s in private] == sorted((s.score for s in private), reverse=True)
    assert all(s.change == s.public_rank - s.private_rank for s in private)
    shown = json_of(invoke("leaderboard", "--json", "--config", write_config(scoring="budget", metric="accuracy"), "-l", board).output)
    assert shown["metric"] == "accuracy" and shown["higher_is_better"] and shown["scoring"] == "budget"
    assert [r["team"] for r in shown["rows"]] == [s.team for s in standings]
    assert all(r["accuracy"] == r["score"] for r in shown["rows"])


def test_final_picks_history_and_forecast_prefer_the_higher_metric(board, write_config, key):
    cfg = budget(write_config, metric="macro_f1")
    rescore(board, cfg, key=key)
    entries = read_entries(board)
    assert all(e.public_score == e.public_f1 for e in entries)
    best = max(entries, key=lambda e: e.public_score)
    assert history(entries, best.team, cfg.rule)[-1]["best_so_far"] == best.public_score
    assert final_entries(entries, {}, 2, cfg.rule)[best.team] == [best]
    forecast = forecast_board(entries, {}, cfg, key, draws=300, seed=0)
    assert [t.team for t in forecast.teams] == [s.team for s in public_board(entries, cfg, None)]
    assert forecast.teams[0].p_first == max(t.p_first for t in forecast.teams)
    assert forecast.teams[0].expected_rank < forecast.teams[-1].expected_rank
    for t in forecast.teams:
        assert 0 < t.score_low <= t.score_high <= 1
    bt = backtest(entries, {}, cfg, key, splits=5, draws=100)
    assert 0.5 <= bt.interval_coverage <= 1 and bt.first.brier < 0.5


def test_rows_of_another_format_never_mix_into_a_budget_board(board, write_config, key):
    cfg = budget(write_config, metric="accuracy")
    assert public_board(read_entries(board), cfg, key) == []  # 2021 rows: rescore them first


# --- the 2021 format stays bit-identical -------------------------------------------------------

@pytest.mark.parametrize(("args", "golden"), [((), "board_2021_public.json"), (("--private", "--reveal"), "board_2021_private.json")])
def test_the_committed_board_under_2021_is_bit_identical(invoke, args, golden):
    result = invoke("leaderboard", "--json", *args, "-l", ROOT / "leaderboard.csv", "--config", ROOT / "pyproject.toml")
    assert result.exit_code == 0, result.output
    assert json_of(result.output) == json_of((ROOT / "tests" / "golden" / golden).read_text())


# --- the worked example, through the workers -----------------------------------------------------

@pytest.mark.slow
def test_the_example_refuses_the_reference_and_ranks_the_int8_entry(invoke, tmp_path, key):
    lb = tmp_path / "budget.csv"
    ref = invoke("evaluate", ROOT / "baselines" / "reference.py", "--team", "reference", "--config", EXAMPLE, "-l", lb)
    reference_bytes = submission_bytes(submission_files(ROOT / "baselines" / "reference.py"))
    assert ref.exit_code == 2
    assert f"stored bytes {reference_bytes:,} exceed the cap max_weights_bytes = 32,768" in ref.output
    done = invoke("evaluate", QUANTIZED, "--json", "--config", EXAMPLE, "-l", lb)
    assert done.exit_code == 0, done.output
    scored = json_of(done.output)
    p = decode_predictions(read_entries(lb)[-1].predictions)
    assert scored["accuracy"] == pytest.approx(accuracy_score(key.labels[key.public], p[key.public]), abs=1e-12)
    rows = read_entries(lb)
    assert [(e.team, e.status, e.failure) for e in rows] == [("reference", "failed", "over_budget"), ("zoo-quantized", "scored", "")]
    assert rows[1].stored_bytes == submission_bytes(submission_files(QUANTIZED)) <= 32768
    checked = invoke("check", ROOT / "baselines" / "reference.py", "--config", EXAMPLE)
    assert checked.exit_code == 1 and "would be REJECTED" in checked.output
    assert f"max_weights_bytes │ 32,768 │    {reference_bytes:,} │  -{reference_bytes - 32768:,}" in checked.output


@pytest.mark.slow
def test_a_byte_cap_at_the_exact_size_fits_and_one_byte_less_does_not(invoke, write_config, tmp_path):
    size = submission_bytes(submission_files(QUANTIZED))
    lb = tmp_path / "b.csv"
    over = invoke("evaluate", QUANTIZED, "--config", write_config(scoring="budget", max_weights_bytes=size - 1), "-l", lb)
    assert over.exit_code == 2 and f"stored bytes {size:,} exceed the cap max_weights_bytes = {size - 1:,} (1 over)" in over.output
    at = write_config(scoring="budget", max_weights_bytes=size)
    checked = invoke("check", QUANTIZED, "--json", "--config", at)
    assert checked.exit_code == 0, checked.output
    caps = json_of(checked.output)["caps"]
    assert caps == [{"cap": "max_weights_bytes", "measures": "weights_bytes", "limit": size, "value": size, "headroom": 0, "within": True}]
    assert invoke("evaluate", QUANTIZED, "--config", at, "-l", lb).exit_code == 0
    assert [e.status for e in read_entries(lb)] == ["failed", "scored"]


def test_rescore_page_and_plot_follow_the_budget_format(board, write_config, key, invoke, tmp_path):
    from PIL import Image

    from harness.page import board_page

    config = write_config(scoring="budget", metric="accuracy", max_params=6000)
    done = invoke("rescore", "--config", config, "-l", board)
    assert done.exit_code == 0, done.output
    assert "over a cap" in done.output
    cfg = load_config(config)
    entries = read_entries(board)
    assert {e.team for e in entries if not e.scored} == {e.team for e in entries if e.params and e.params > 6000}
    page = board_page(entries, {}, cfg, key, draws=100)
    assert "Ranked by accuracy: higher is better, within every cap (max_params = 6,000)." in page
    assert "<h2>Size against accuracy</h2>" in page and '<th scope="col">accuracy</th>' in page
    plotted = invoke("leaderboard", "--config", config, "-l", board, "--plot", tmp_path / "b.png")
    assert plotted.exit_code == 0, plotted.output
    assert Image.open(tmp_path / "b.png").size == (800, 600)
    shown = invoke("history", "team4", "--json", "--config", config, "-l", board)
    assert shown.exit_code == 0, shown.output


def test_init_writes_a_budget_configuration_and_refuses_bad_caps_before_writing(invoke, tmp_path):
    from PIL import Image

    from harness.scaffold import MIN_PER_CLASS

    source = tmp_path / "images"
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (source / name).mkdir(parents=True)
        for i in range(MIN_PER_CLASS + 2):
            Image.fromarray(rng.integers(0, 255, (12, 12), dtype=np.uint8)).save(source / name / f"{i}.png")
    made = invoke("init", tmp_path / "comp", "--from", source, "--scoring", "budget", "--metric", "accuracy",
                  "--max-weights-bytes", "32768", "--max-params", "5000")
    assert made.exit_code == 0, made.output
    rule = load_config(tmp_path / "comp" / "pyproject.toml").rule
    assert rule == Rule("budget", "accuracy", Caps(max_weights_bytes=32768, max_params=5000))
    assert load_config(_init(invoke, tmp_path / "plain", source)).rule == Rule()
    bad = invoke("init", tmp_path / "bad", "--from", source, "--scoring", "budget", "--max-macs", "0")
    assert bad.exit_code == 3 and "max_macs: must be positive" in bad.output and not (tmp_path / "bad").exists()
    wrong = invoke("init", tmp_path / "wrong", "--from", source, "--max-weights-bytes", "100")
    assert wrong.exit_code == 3 and 'applies only with scoring = "budget"' in wrong.output and not (tmp_path / "wrong").exists()


def _init(invoke, target, source):
    assert invoke("init", target, "--from", source).exit_code == 0
    return target / "pyproject.toml"


@pytest.mark.slow
def test_the_zoo_table_shows_quantisation_winning_under_the_example_only(tmp_path):
    import subprocess
    import sys

    run = subprocess.run([sys.executable, str(ROOT / "baselines" / "zoo_table.py"), "--formats", "--no-readme",
                          "--only", "reference,zoo_quantized,team4", "--leaderboard", str(tmp_path / "zoo.csv")],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = {line.split("|")[2].strip(" `"): [c.strip() for c in line.split("|")[3:-1]]
            for line in run.stdout.splitlines() if line.startswith("| ") and "`" in line}
    assert set(rows) == {"baselines/reference.py", "submissions/team4.py", "submissions/zoo_quantized.py"}
    reference, team4, quantized = rows["baselines/reference.py"], rows["submissions/team4.py"], rows["submissions/zoo_quantized.py"]
    assert reference[0] == f"{submission_bytes(submission_files(ROOT / 'baselines' / 'reference.py')):,}"
    assert quantized[0] == f"{submission_bytes(submission_files(QUANTIZED)):,}"
    assert quantized[3].startswith("1.0000") and team4[3] == team4[3].split()[0] + " (1)"  # 2021: no gain, team4 first
    assert reference[4].startswith("over the cap by ")
    assert quantized[4].endswith("(1)") and team4[4].endswith("(2)")  # budget: the int8 entry first
