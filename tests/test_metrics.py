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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_macro_f1_is_sklearns(seed):
    labels, predictions = _noisy(seed)
    assert macro_f1(labels, predictions) == pytest.approx(f1_score(labels, predictions, average="macro", zero_division=0))


def test_bootstrap_resamples_match_sklearn_one_by_one():
    labels, predictions = _noisy(3, n=120)
    f1s = bootstrap_macro_f1(labels, predictions, 9, resamples=50, seed=7)
    draws = np.random.default_rng(7).integers(0, len(labels), size=(50, len(labels)))
    expected = [f1_score(labels[d], predictions[d], average="macro", zero_division=0) for d in draws]
    assert np.allclose(f1s, expected)


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
