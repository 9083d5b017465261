"""The score formula, table-driven, against the competition's definition."""
import re
from pathlib import Path

import numpy as np
import pytest

from harness.scoring import Reference, compute_score, config_id, f1_term, macs_term, total

REF = Reference(macs=13_863_553, f1=0.8342)

CASES = [
    # (MACs, F1, MACs term, F1 term)                   what it shows
    (13_863_553, 0.8342, 1.0, 0.0),                     # the reference scores exactly 1
    (1_386_355, 0.8342, 0.1, 0.0),                      # a tenth of the MACs
    (1_386_355, 0.7, 0.1, 1 - 0.7 / 0.8342),            # below the reference: full penalty slope
    (1_386_355, 0.9, 0.1, 0.5 * (1 - 0.9 / 0.8342)),    # above: half the slope, a negative term
    (1_386_355, 0.5, 0.1, 1 - 0.5 / 0.8342),            # exactly 0.5 is not below 0.5
    (1_386_355, 0.4999, 0.1, 1.0),                      # below 0.5: the F1 term is 1.0
    (1_386_355, 0.0, 0.1, 1.0),
    (0, 1.0, 0.0, 0.5 * (1 - 1 / 0.8342)),              # the score can be negative
]


@pytest.mark.parametrize("macs,f1,macs_term,f1_part", CASES)
def test_score_table(macs, f1, macs_term, f1_part):
    score = compute_score(macs, f1, REF)
    assert score.macs_term == pytest.approx(macs_term, rel=1e-6)
    assert score.f1_term == pytest.approx(f1_part, abs=1e-12)
    assert score.total == pytest.approx(score.macs_term + f1_part, rel=1e-12, abs=1e-12)
    assert score.total == pytest.approx(macs_term + f1_part, rel=1e-6)


def test_negative_score_is_possible():
    assert compute_score(0, 1.0, REF).total < 0


def test_f1_term_is_vectorised_like_the_scalar():
    f1s = np.array([0.2, 0.5, 0.8, 0.8342, 0.95])
    assert np.allclose(f1_term(f1s, REF.f1), [f1_term(float(f), REF.f1) for f in f1s])


def test_total_and_macs_term_work_on_arrays_as_on_scalars():
    macs = np.array([0, 1_386_355, 13_863_553, 27_727_106])
    f1s = np.array([1.0, 0.7, 0.8342, 0.4])
    expected = [compute_score(int(m), float(f), REF).total for m, f in zip(macs, f1s)]
    assert np.array_equal(total(macs, f1s, REF), expected)
    assert np.array_equal(macs_term(macs, REF), [compute_score(int(m), 0.9, REF).macs_term for m in macs])
    assert total(1_386_355, 0.8342, REF) == compute_score(1_386_355, 0.8342, REF).total


def test_config_id_names_profile_and_reference():
    assert config_id("modern", REF) == "profile=modern ref_macs=13863553 ref_f1=0.8342"


FORMULA_COPIES = {
    "a division by the reference MACs": re.compile(r"/\s*[\w.]*\bref(erence)?(_macs|\.macs)\b"),
    "a call of f1_term": re.compile(r"\bf1_term\("),
    "the F1 bonus slope": re.compile(r"0\.5\s*\*\s*\(\s*1(\.0)?\s*-"),
    "the config id f-string": re.compile(r"ref_macs=\{"),
    "a private reference built by hand": re.compile(r"reference_private_\w+\s+or\b|Reference\([^)]*private"),
}


@pytest.mark.parametrize("what", sorted(FORMULA_COPIES))
def test_no_other_module_holds_a_copy_of_the_formula(what):
    pattern = FORMULA_COPIES[what]
    package = Path(__file__).resolve().parent.parent / "harness"
    home = ("scoring.py", "config.py") if "private" in what else ("scoring.py",)  # Competition.reference_for
    found = [f"{path.name}:{n}: {line.strip()}" for path in sorted(package.glob("*.py")) if path.name not in home
             for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert found == [], f"{what} outside harness/scoring.py: {found}"


def test_the_reference_per_part_is_chosen_in_one_place(tmp_path):
    from harness.config import parse_config

    table = {"classes": ["a", "b"], "reference": "ref.py", "reference_macs": 100, "reference_f1": 0.8}
    shared = parse_config(table, tmp_path)
    assert shared.reference_for("private") == shared.reference_for("public") == Reference(100, 0.8)
    own = parse_config({**table, "reference_private_f1": 0.7}, tmp_path)
    assert own.reference_for("public") == Reference(100, 0.8)
    assert own.reference_for("private") == Reference(100, 0.7)
    both = parse_config({**table, "reference_private_f1": 0.7, "reference_private_macs": 90}, tmp_path)
    assert both.reference_for("public") == Reference(100, 0.8)
    assert both.reference_for("private") == Reference(90, 0.7)
