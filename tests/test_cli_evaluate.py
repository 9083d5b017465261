"""`harness evaluate` and `harness leaderboard` end to end through typer's CliRunner."""
import csv
import os
from pathlib import Path

import pytest

from conftest import ROOT, json_of
from harness.leaderboard import COLUMNS, read_entries
from harness.scoring import Reference, compute_score

pytestmark = pytest.mark.slow  # every test here starts isolated workers


BROKEN = Path(__file__).resolve().parent / "broken"


def test_evaluate_appends_a_row_scored_by_the_formula(invoke, tmp_path, cfg):
    lb = tmp_path / "lb.csv"
    result = invoke("evaluate", ROOT / "submissions" / "team4.py", "--leaderboard", lb, "--json")
    assert result.exit_code == 0, result.output
    d = json_of(result.output)
    for field in ("team", "macs", "params", "f1", "score"):
        assert field in d
    expected = compute_score(d["macs"], d["f1"], Reference(cfg.reference.macs, cfg.reference.f1)).total
    assert d["score"] == pytest.approx(expected, abs=1e-12)
    assert d["score"] < 1.0, "team4 beats the reference"
    with lb.open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 1
    row = rows[0]
    assert row["team"] == "team4" and row["status"] == "scored" and row["input_size"] == "28x28"
    assert len(row["file_sha256"]) == 64 and len(row["weights_sha256"]) == 64
    assert row["ptflops_version"] == "0.7.5" and row["profile"] == "2021"
    assert float(row["private_f1"]) > 0.5 and row["predictions"]


def test_second_append_keeps_the_first_and_board_ranks(invoke, tmp_path):
    lb = tmp_path / "lb.csv"
    assert invoke("evaluate", ROOT / "submissions" / "team4.py", "--leaderboard", lb).exit_code == 0
    first = lb.read_text()
    result = invoke("evaluate", ROOT / "submissions" / "team7.py", "--leaderboard", lb)
    assert result.exit_code == 0, result.output
    assert lb.read_text().startswith(first)
    board = invoke("leaderboard", "--leaderboard", lb, "--json")
    assert board.exit_code == 0, board.output
    rows = json_of(board.output)["rows"]
    assert [r["team"] for r in rows] == sorted((r["team"] for r in rows), key=lambda t: next(x["score"] for x in rows if x["team"] == t))
    assert {r["team"] for r in rows} == {"team4", "team7"}
    assert all({"team", "macs", "params", "f1", "score"} <= set(r) for r in rows)
    table = invoke("leaderboard", "--leaderboard", lb)
    assert "team4" in table.output and "team7" in table.output


def test_team_option_renames(invoke, tmp_path):
    lb = tmp_path / "lb.csv"
    result = invoke("evaluate", ROOT / "submissions" / "team7.py", "--leaderboard", lb, "--team", "blue", "--json")
    assert result.exit_code == 0 and json_of(result.output)["team"] == "blue"


@pytest.mark.parametrize(
    "path,message",
    [
        (Path("does/not/exist.py"), "submission not found"),
        (BROKEN / "syntax_error.py", "syntax error"),
        (BROKEN / "no_build_model.py", "no build_model"),
        (BROKEN / "wrong_shape.py", "shape"),
        (BROKEN / "nan_logits.py", "NaN"),
        (BROKEN / "missing_weights.py", "could not find a file"),
        (BROKEN / "wrong_arch_weights.py", "state_dict"),
        (BROKEN / "bad_transform.py", "transform"),
    ],
)
def test_failures_give_one_clear_line_and_no_score(invoke, tmp_path, path, message):
    lb = tmp_path / "lb.csv"
    result = invoke("evaluate", path, "--leaderboard", lb)
    assert result.exit_code != 0
    assert message in result.output, result.output
    assert "Traceback" not in result.output
    assert not [e for e in read_entries(lb) if e.scored]


def test_missing_file_writes_nothing_at_all(invoke, tmp_path):
    lb = tmp_path / "lb.csv"
    invoke("evaluate", "nope.py", "--leaderboard", lb)
    assert not lb.exists()


CUSTOM_TRANSFORM = """
import albumentations as A


def transform(input_size):
    return A.Compose([A.Resize(*input_size), A.Normalize(mean=(0.1307,) * 3, std=(0.3081,) * 3, max_pixel_value=255.0)])
"""


def test_custom_transform_is_used(invoke, tmp_path, twin_of_team4):
    lb = tmp_path / "lb.csv"
    custom = twin_of_team4("custom", CUSTOM_TRANSFORM)
    cache = Path(os.environ["HARNESS_CACHE"])
    before = set(cache.glob("test-28x28-*.npy"))
    result = invoke("evaluate", custom, "--leaderboard", lb, "--json")
    assert result.exit_code == 0, result.output
    (cached,) = set(cache.glob("test-28x28-*.npy")) - before  # its own preprocessing, applied here, cached
    plain = invoke("evaluate", ROOT / "submissions" / "team4.py", "--leaderboard", lb, "--json")
    # the same model with the same preprocessing written by hand gets the same F1
    assert json_of(result.output)["f1"] == pytest.approx(json_of(plain.output)["f1"], abs=1e-9)
    stamp = cached.stat().st_mtime_ns
    again = invoke("evaluate", custom, "--leaderboard", lb, "--json")
    assert again.exit_code == 0 and json_of(again.output)["f1"] == json_of(result.output)["f1"]
    assert cached.stat().st_mtime_ns == stamp


def test_cuda_on_a_machine_without_one_is_a_clear_error(invoke, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = invoke("evaluate", ROOT / "submissions" / "team4.py", "--leaderboard", tmp_path / "lb.csv", "--device", "cuda")
    assert result.exit_code != 0 and "no CUDA device" in result.output and "Traceback" not in result.output
