"""The score formula, table-driven, against the competition's definition."""
import numpy as np
import pytest

from harness.scoring import Reference, compute_score, f1_term

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
