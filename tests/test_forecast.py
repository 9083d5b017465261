"""Shake-up forecast: the vectorised maths against a slow, obvious implementation, the
backtest, the heat map and the history panel, through the library and the CLI."""
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import f1_score

from conftest import json_of
from harness import backtest as bk
from harness import forecast as fc
from harness.board import final_entries, private_board, read_picks, select_final
from harness.data import AnswerKey
from harness.errors import LeaderboardError
from harness.leaderboard import Entry, decode_predictions, encode_predictions, read_entries
from harness.metrics import unseen_sample_counts, weighted_macro_f1
from harness.scoring import compute_score
from test_board import NOON, add

CLASSES = 3


def _sk_f1(labels, predictions, weights=None):
    return f1_score(labels, predictions, sample_weight=weights, labels=range(CLASSES), average="macro", zero_division=0)


def test_weighted_macro_f1_is_sklearns_over_all_classes():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, CLASSES - 1, 60)  # the last class never occurs in the labels
    predictions = np.where(rng.random((4, 60)) < 0.7, labels, rng.integers(0, CLASSES, (4, 60)))
    weights = rng.integers(0, 3, (5, 60))
    weights[0] = (labels == 0)  # a weighting where one class alone is present
    f1 = weighted_macro_f1(labels, predictions, weights, CLASSES)
    assert f1.shape == (4, 5)
    for e in range(4):
        for d in range(5):
            assert f1[e, d] == pytest.approx(_sk_f1(labels, predictions[e], weights[d]), abs=1e-12)
    assert weighted_macro_f1(labels, predictions[0], weights, CLASSES).shape == (5,)


def test_unseen_sample_counts_spread_like_a_second_sample():
    counts = unseen_sample_counts(200, 150, draws=4000, seed=3)
    assert counts.shape == (4000, 200) and (counts.sum(axis=1) == 150).all()
    assert np.array_equal(unseen_sample_counts(200, 150, 4000, seed=3), counts)
    values = np.arange(200) < 100  # half ones: p = 0.5
    means = counts @ values / 150
    # An unseen sample of 150 differs from the observed 200 by var p(1-p)(1/200 + 1/150), not p(1-p)/150.
    assert means.mean() == pytest.approx(0.5, abs=0.005)
    assert means.var() == pytest.approx(0.25 * (1 / 200 + 1 / 150), rel=0.1)


def test_exact_ties_share_their_ranks_and_split_the_probability():
    p = fc.rank_probabilities(np.array([[0.3, 0.1, 0.3], [0.1, 0.2, 0.3], [0.2, 0.2, 0.2]]))
    third = 1 / 3
    assert p[0] == pytest.approx([(1 + third) / 3, (0.5 + third) / 3, (0.5 + third) / 3])
    assert p[1] == pytest.approx([(1 + third) / 3, (1 + third) / 3, third / 3])
    assert np.allclose(p.sum(axis=0), 1) and np.allclose(p.sum(axis=1), 1)


def _row(i: int, team: str, macs: int, predictions: np.ndarray, key: AnswerKey, cfg, minute: int) -> Entry:
    """A scored row whose scores are computed from its predictions, as evaluate does."""
    f1 = {part: _sk_f1(key.labels[m], predictions[m]) for part, m in (("public", key.public), ("private", key.private))}
    return Entry(
        id=i, time_utc=(NOON + timedelta(minutes=minute)).isoformat(timespec="seconds"), team=team, status="scored",
        failure="", message="", submission=f"{team}.py", file_sha256="", weights_sha256="", input_size="28x28",
        macs=macs, params=1, profile=cfg.profile, profile_macs="", profile_version=2, public_f1=f1["public"], private_f1=f1["private"],
        public_score=compute_score(macs, f1["public"], cfg.reference).total,
        private_score=compute_score(macs, f1["private"], cfg.reference_for("private")).total, ref_macs=cfg.reference.macs,
        ref_f1=cfg.reference.f1, harness_version="", ptflops_version="", predictions=encode_predictions(predictions),
        original_public_score=None, original_private_score=None, original_ref_macs=None, original_ref_f1=None,
        original_profile="", rescored_utc="", competition="")


@pytest.fixture
def tiny(cfg):
    """A 3-class board of 48 images: four teams, two with two picks, two with the same predictions."""
    cfg = replace(cfg, classes=("a", "b", "c"), final_picks=2)
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(CLASSES), 16)
    key = AnswerKey(labels=labels, public=rng.permutation(np.arange(48) % 2 == 0))

    def noisy(error):
        return np.where(rng.random(48) < error, rng.integers(0, CLASSES, 48), labels)

    same = noisy(0.3)
    rows = [_row(1, "a", 300_000, noisy(0.25), key, cfg, 0), _row(2, "a", 250_000, noisy(0.35), key, cfg, 1),
            _row(3, "b", 200_000, same, key, cfg, 2), _row(4, "c", 200_000, same, key, cfg, 3),  # a tie: b is earlier
            _row(5, "d", 400_000, noisy(0.1), key, cfg, 4), _row(6, "d", 280_000, noisy(0.3), key, cfg, 5),
            _row(7, "d", 350_000, noisy(0.2), key, cfg, 6)]
    return cfg, key, rows


def _slow_forecast(rows, picks, cfg, key, draws, seed):
    """The obvious way: every draw expanded into its images, scikit-learn for every pick, Python sorting."""
    chosen = final_entries(rows, picks, cfg.final_picks)
    counts = unseen_sample_counts(int(key.public.sum()), int(key.private.sum()), draws, seed)
    labels = key.labels[key.public]
    teams = sorted(chosen)
    ranks, scores = {t: [] for t in teams}, {t: [] for t in teams}
    for d in range(draws):
        images = np.repeat(np.arange(len(labels)), counts[d])
        best = {}
        for t in teams:
            for e in chosen[t]:
                predictions = decode_predictions(e.predictions)
                s = compute_score(e.macs, _sk_f1(labels[images], predictions[key.public][images]), cfg.reference_for("private")).total
                if t not in best or (s, e.time_utc) < best[t]:
                    best[t] = (s, e.time_utc)
        for t in teams:  # level teams share their ranks: each gets an equal part of each
            better = sum(best[u][0] < best[t][0] for u in teams)
            level = sum(best[u][0] == best[t][0] for u in teams)
            ranks[t].append([(better + k + 1, 1 / level) for k in range(level)])
            scores[t].append(best[t][0])
    return ranks, scores


def test_forecast_matches_the_slow_reference(tiny):
    cfg, key, rows = tiny
    picks = {"d": [5, 7]}  # d chose its own two; a, b, c get their best public ones
    result = fc.forecast_board(rows, picks, cfg, key, draws=150, seed=11, shrink=False)
    ranks, scores = _slow_forecast(rows, picks, cfg, key, 150, 11)
    best_public = {t: min((e.public_score, e.time_utc) for e in rows if e.team == t) for t in ranks}
    assert [t.team for t in result.teams] == sorted(ranks, key=best_public.get)
    for t in result.teams:
        p = np.zeros(4)
        for draw in ranks[t.team]:
            for rank, share in draw:
                p[rank - 1] += share / 150
        assert t.rank_probabilities == pytest.approx(p.tolist(), abs=1e-12)
        assert t.p_top3 == pytest.approx(p[:3].sum()) and t.p_first == pytest.approx(p[0])
        assert t.expected_rank == pytest.approx(p @ np.arange(1, 5))
        assert (t.score_low, t.score_high) == pytest.approx(tuple(np.quantile(scores[t.team], [0.05, 0.95])), abs=1e-12)
    assert result.team("d").picks == (5, 7) and result.team("a").picks == (1, 2)
    b, c = result.team("b"), result.team("c")
    assert b.rank_probabilities == c.rank_probabilities  # identical predictions and MACs: an exact tie, stated
    assert sum(t.p_first for t in result.teams) == pytest.approx(1.0)
    shrunk = fc.forecast_board(rows, picks, cfg, key, draws=150, seed=11)
    assert shrunk.team("b").rank_probabilities == shrunk.team("c").rank_probabilities and shrunk.shrunk


def test_shrinkage_takes_back_the_luck_of_a_best_entry_among_many(cfg):
    """Five equally good teams; one submits 20 copies that differ only by noise: its best is luck."""
    cfg = replace(cfg, classes=("a", "b", "c"), final_picks=2)
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(CLASSES), 100)
    key = AnswerKey(labels=labels, public=rng.permutation(np.arange(300) % 2 == 0))

    def noisy():
        return np.where(rng.random(300) < 0.25, (labels + rng.integers(1, CLASSES, 300)) % CLASSES, labels)

    rows = [_row(i + 1, "many", 300_000, noisy(), key, cfg, i) for i in range(20)]
    rows += [_row(21 + i, f"one{i}", 300_000, noisy(), key, cfg, 21 + i) for i in range(4)]
    raw = fc.forecast_board(rows, {}, cfg, key, draws=400, seed=3, shrink=False)
    shrunk = fc.forecast_board(rows, {}, cfg, key, draws=400, seed=3)
    assert raw.team("many").public_rank == 1 and raw.team("many").p_first > 0.5  # face value: its lucky best leads
    assert shrunk.team("many").p_first < raw.team("many").p_first / 2
    assert max(t.p_first for t in shrunk.teams) < 0.5  # a level race stays open
    from harness.shrinkage import shrinkage_shifts

    public = np.array([r.public_f1 for r in rows])
    noise = rng.normal(0, 0.03, (300, len(rows)))
    shifts = shrinkage_shifts(public, noise, np.array([0] * 20 + [1, 2, 3, 4]))
    best = int(np.argmax(public[:20]))
    assert -shifts[best] > 0.8 * (public[best] - public[:20].mean()) > 0.01  # most of its lead over its own copies was luck


def test_forecast_reads_only_public_labels(tiny):
    cfg, key, rows = tiny
    scrambled = AnswerKey(np.where(key.public, key.labels, (key.labels + 1) % CLASSES), key.public)
    first = fc.forecast_board(rows, {}, cfg, key, draws=200, seed=1)
    assert fc.forecast_board(rows, {}, cfg, scrambled, draws=200, seed=1) == first


def test_rows_of_another_data_set_are_refused_by_name(tiny):
    cfg, key, rows = tiny
    bigger = AnswerKey(np.concatenate([key.labels, [0, 1]]), np.concatenate([key.public, [True, False]]))
    with pytest.raises(LeaderboardError, match=r"row 1 \(a\) holds 48 predictions but the data set has 50"):
        fc.forecast_board(rows, {}, cfg, bigger, draws=10)


def test_resplit_masks_keep_each_class_public_count(tiny):
    _, key, _ = tiny
    masks = bk.resplit_masks(key, 30, seed=2)
    for c in range(CLASSES):
        assert (masks[:, key.labels == c].sum(axis=1) == key.public[key.labels == c].sum()).all()
    assert len({m.tobytes() for m in masks}) == 30


def test_backtest_agrees_with_forecasts_and_outcomes_done_by_hand(tiny):
    cfg, key, rows = tiny
    bt = bk.backtest(rows, {}, cfg, key, splits=4, draws=100, seed=7)
    masks = bk.resplit_masks(key, 4, seed=7)
    p, o, rps, splits = [], [], [], []
    for r, mask in enumerate(masks):
        split = AnswerKey(key.labels, mask)
        rescored = [_row(e.id, e.team, e.macs, decode_predictions(e.predictions), split, cfg, i) for i, e in enumerate(rows)]
        forecast = fc.forecast_board(rescored, {}, cfg, split, draws=100, seed=7 + 1 + r)
        outcome = {s.team: s.rank for s in private_board(rescored, {}, cfg, None)}
        p += [t.p_top3 for t in forecast.teams]
        o += [outcome[t.team] <= 3 for t in forecast.teams]
        rps += [np.mean((np.cumsum(t.rank_probabilities)[:-1] - (np.arange(1, 4) >= outcome[t.team])) ** 2) for t in forecast.teams]
        splits += [r] * 4
    assert bt.forecasts == 16 and bt.teams == 4
    assert bt.top3.brier == pytest.approx(np.mean((np.array(p) - np.array(o)) ** 2))
    assert bt.rps == pytest.approx(np.mean(rps))
    per_split = np.array([np.mean([x for x, s in zip(rps, splits) if s == r]) for r in range(4)])
    assert bt.rps_se == pytest.approx(per_split.std(ddof=1) / 2)  # equal clusters: the SE of the split means
    resampled = bk.backtest(rows, {}, cfg, key, splits=3, draws=50, seed=7, method="resample")
    assert resampled.method == "resample" and resampled.forecasts == 12 and 0 <= resampled.rps <= 1
    assert sum(b.count for b in bt.top3.bins) == sum(b.count for b in bt.first.bins) == 16
    for b in bt.top3.bins:
        if b.count:
            assert b.low <= b.mean_forecast <= b.high and 0 <= b.observed <= 1


def test_cli_forecast_json_team_and_heat_map(tmp_path, cfg, key, invoke):
    lb = tmp_path / "lb.csv"
    add(lb, cfg, key, "leader", 60_000, 0.03, seed=1)     # far ahead: tiny MACs, few errors
    add(lb, cfg, key, "close1", 400_000, 0.10, seed=2)
    add(lb, cfg, key, "close2", 400_000, 0.105, seed=3)   # within noise of close1
    add(lb, cfg, key, "last", 2_000_000, 0.2, seed=4)
    result = invoke("forecast", "--leaderboard", lb, "--json", "--draws", 500, "--plot", tmp_path / "heat.png")
    assert result.exit_code == 0, result.output
    data = json_of(result.output)
    assert data["draws"] == 500 and data["private_images"] == int(key.private.sum()) and data["top"] == 3
    teams = {t["team"]: t for t in data["teams"]}
    assert [t["team"] for t in data["teams"]][0] == "leader" and teams["leader"]["p_first"] > 0.95
    assert 0.1 < teams["close1"]["rank_probabilities"][1] < 0.9  # rank 2 or 3: a real coin toss
    assert teams["last"]["rank_probabilities"][3] > 0.95
    matrix = np.array([t["rank_probabilities"] for t in data["teams"]])
    assert np.allclose(matrix.sum(axis=0), 1) and np.allclose(matrix.sum(axis=1), 1)
    with Image.open(tmp_path / "heat.png") as image:
        assert image.size[0] >= 800 and image.size[1] >= 600
    one = json_of(invoke("forecast", "--leaderboard", lb, "--json", "--team", "close2").output)
    assert [t["team"] for t in one["teams"]] == ["close2"]
    table = invoke("forecast", "--leaderboard", lb, "--team", "close2")
    assert table.exit_code == 0 and "close2" in table.output and "P(top 3)" in table.output and "leader" not in table.output


def test_cli_forecast_errors(tmp_path, cfg, key, invoke):
    lb = tmp_path / "lb.csv"
    empty = invoke("forecast", "--leaderboard", lb)
    assert empty.exit_code == 5 and "nothing to forecast" in empty.output and "Traceback" not in empty.output
    add(lb, cfg, key, "a", 100_000, 0.1)
    unknown = invoke("forecast", "--leaderboard", lb, "--team", "zz", "--plot", tmp_path / "x.png")
    assert unknown.exit_code == 1 and "no team 'zz'" in unknown.output and not (tmp_path / "x.png").exists()
    both = invoke("forecast", "--leaderboard", lb, "--backtest", "--team", "a")
    assert both.exit_code == 1 and "--backtest" in both.output


def test_cli_backtest_text_and_json(tmp_path, cfg, key, invoke):
    lb = tmp_path / "lb.csv"
    add(lb, cfg, key, "a", 100_000, 0.05, seed=1)
    add(lb, cfg, key, "b", 150_000, 0.08, seed=2)
    add(lb, cfg, key, "c", 150_000, 0.09, seed=3)
    add(lb, cfg, key, "d", 900_000, 0.3, seed=4)
    args = ("forecast", "--leaderboard", lb, "--backtest", "--splits", 20, "--draws", 200)
    data = json_of(invoke(*args, "--json").output)
    assert data["splits"] == 20 and data["forecasts"] == 80 and data["teams"] == 4
    for name in ("brier_top3", "brier_first", "public_board_brier_top3", "public_board_brier_first", "interval_coverage"):
        assert 0 <= data[name] <= 1
    assert sum(b["count"] for b in data["reliability_top3"]) == 80 and len(data["reliability_first"]) == 10
    assert data["brier_top3"] < 0.1  # d is never in the top 3, a nearly always first
    text = invoke(*args)
    assert text.exit_code == 0 and "reliability of P(top 3)" in text.output and "Brier" in text.output


def test_history_plot_shows_p_top3_by_day(tmp_path, cfg, key, invoke):
    lb = tmp_path / "lb.csv"
    for day in range(3):
        when = NOON + timedelta(days=day)
        add(lb, cfg, key, "rival1", 300_000, 0.10, when=when, seed=10 + day)
        add(lb, cfg, key, "rival2", 320_000, 0.10, when=when, seed=20 + day)
        add(lb, cfg, key, "rival3", 340_000, 0.10, when=when, seed=30 + day)
    add(lb, cfg, key, "climber", 2_000_000, 0.3, when=NOON + timedelta(days=1), seed=1)   # starts last
    add(lb, cfg, key, "climber", 100_000, 0.05, when=NOON + timedelta(days=2), seed=2)   # then far ahead
    points = fc.forecast_by_day(read_entries(lb), {}, cfg, key, "climber", draws=300)
    assert [t for t, _ in points] == [NOON + timedelta(days=1), NOON + timedelta(days=2)]  # each day's last submission
    assert points[0][1] < 0.05 and points[1][1] > 0.95
    result = invoke("history", "climber", "--leaderboard", lb, "--plot", tmp_path / "climber.png")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "climber.png") as image:
        assert image.size == (800, 600)


def test_manual_picks_drive_the_forecast(tmp_path, cfg, key):
    lb = tmp_path / "lb.csv"
    good = add(lb, cfg, key, "a", 100_000, 0.05, seed=1)
    poor = add(lb, cfg, key, "a", 1_500_000, 0.05, seed=2)
    add(lb, cfg, key, "b", 400_000, 0.05, seed=3)
    auto = fc.forecast_board(read_entries(lb), {}, cfg, key, draws=300)
    assert auto.team("a").picks == (good.id, poor.id) and auto.team("a").p_first > 0.95
    select_final(lb, "a", [poor.id], cfg.final_picks)
    manual = fc.forecast_board(read_entries(lb), read_picks(lb), cfg, key, draws=300)
    assert manual.team("a").picks == (poor.id,) and manual.team("a").p_first < 0.05
