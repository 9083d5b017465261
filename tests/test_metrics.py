"""Macro-F1 and its bootstrap against scikit-learn on seeded inputs."""
import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from harness.errors import WorkerError
from harness.metrics import bootstrap_macro_f1, macro_f1, predict_logits


def _noisy(seed: int, n: int = 400, k: int = 9):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    predictions = np.where(rng.random(n) < 0.7, labels, rng.integers(0, k, n))
    return labels, predictions


def _sklearn(labels, predictions, k=9):
    return f1_score(labels, predictions, labels=list(range(k)), average="macro", zero_division=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_macro_f1_is_sklearns_over_every_configured_class(seed):
    labels, predictions = _noisy(seed)
    assert macro_f1(labels, predictions, 9) == pytest.approx(_sklearn(labels, predictions))


def test_a_class_absent_from_the_subset_counts_zero():
    labels, predictions = np.array([0, 0, 1, 1, 2]), np.array([0, 0, 1, 1, 2])  # classes 3..8 never occur
    assert macro_f1(labels, predictions, 9) == pytest.approx(3 / 9)
    assert macro_f1(labels, predictions, 9) == pytest.approx(_sklearn(labels, predictions))
    assert f1_score(labels, predictions, average="macro", zero_division=0) == 1.0  # what leaving labels= out gives


@pytest.mark.parametrize("n", [120, 12])  # 12 images: most resamples miss some of the 9 classes
def test_bootstrap_resamples_match_sklearn_one_by_one(n):
    labels, predictions = _noisy(3, n=n)
    f1s = bootstrap_macro_f1(labels, predictions, 9, resamples=50, seed=7)
    draws = np.random.default_rng(7).integers(0, len(labels), size=(50, len(labels)))
    expected = [_sklearn(labels[d], predictions[d]) for d in draws]
    assert np.allclose(f1s, expected, rtol=0, atol=1e-12)


def test_predict_logits_rejects_wrong_shape_and_nan():
    images = np.zeros((4, 3, 4, 4), dtype=np.float32)
    with pytest.raises(WorkerError, match="shape"):
        predict_logits(lambda x: torch.zeros(len(x), 5), images, 2, 9)
    with pytest.raises(WorkerError, match="NaN"):
        predict_logits(lambda x: torch.full((len(x), 9), float("nan")), images, 2, 9)


def test_predict_logits_does_not_depend_on_batch_size():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 9)).eval()
    images = np.random.default_rng(0).standard_normal((10, 3, 4, 4)).astype(np.float32)
    assert np.allclose(predict_logits(model, images, 3, 9), predict_logits(model, images, 10, 9), atol=1e-6)
