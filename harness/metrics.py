"""Predictions, macro-F1 and accuracy.

Macro-F1 is the mean over every configured class, as the 2021 organisers computed it
(`f1_score(..., labels=range(num_classes), average="macro", zero_division=0)`): a class
absent from both the truth and the predictions of a scored subset counts 0.

Example:
    >>> import numpy as np
    >>> round(macro_f1(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), num_classes=3), 4)
    0.7778
    >>> round(macro_f1(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), num_classes=4), 4)   # class 3 counts 0
    0.5833
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from harness.errors import WorkerError


def macro_f1(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> float:
    """scikit-learn's macro-F1 over classes 0..num_classes-1, `zero_division=0`, as the original competition."""
    from sklearn.metrics import f1_score  # imported here: the worker never needs it

    return float(f1_score(labels, predictions, labels=list(range(num_classes)), average="macro", zero_division=0))


def bootstrap_macro_f1(
    labels: np.ndarray, predictions: np.ndarray, num_classes: int, resamples: int, seed: int
) -> np.ndarray:
    """Macro-F1 of `resamples` seeded bootstrap resamples of the images, vectorised.

    Each resample draws len(labels) images with replacement; each draw becomes a count
    per image, and `weighted_macro_f1` scores all of them at once. Every configured class
    is in the mean: one absent from both truth and prediction in a resample counts 0, as
    `macro_f1` does.
    """
    return weighted_macro_f1(labels, predictions, bootstrap_counts(len(labels), resamples, seed), num_classes)


def bootstrap_counts(n: int, resamples: int, seed: int) -> np.ndarray:
    """`resamples` x `n` seeded bootstrap draws of `n` items, as counts per item.

    >>> bootstrap_counts(5, 3, seed=0).sum(axis=1)
    array([5, 5, 5])
    """
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    counts = np.bincount((draws + (np.arange(resamples) * n)[:, None]).ravel(), minlength=resamples * n)
    return counts.reshape(resamples, n)


def accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    """The share of correct predictions, as scikit-learn's `accuracy_score` (0.0 on no images).

    >>> accuracy(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]))
    0.75
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    return float(np.mean(labels == predictions)) if len(labels) else 0.0


def weighted_accuracy(labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Accuracy of E x n (or n) predictions under D x n integer weights: E x D (or D).

    Each equals `accuracy_score(labels, p, sample_weight=w)`; a weighting of no images scores 0.

    >>> weighted_accuracy(np.array([0, 1, 1]), np.array([0, 1, 0]), np.array([[1, 1, 1], [1, 2, 0]]))
    array([0.66666667, 1.        ])
    """
    single = np.ndim(predictions) == 1
    correct = (np.atleast_2d(predictions) == labels).astype(np.float64)
    w = np.asarray(weights, dtype=np.float64)
    totals = w.sum(axis=1)
    out = np.divide(correct @ w.T, totals, out=np.zeros((len(correct), len(w))), where=totals > 0)
    return out[0] if single else out


def metric_value(metric: str, labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> float:
    """The named metric ("accuracy" or "macro_f1") of one set of predictions."""
    return accuracy(labels, predictions) if metric == "accuracy" else macro_f1(labels, predictions, num_classes)


def weighted_metric(metric: str, labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray, num_classes: int) -> np.ndarray:
    """The named metric under many weightings, as `weighted_macro_f1` and `weighted_accuracy` shape it."""
    if metric == "accuracy":
        return weighted_accuracy(labels, predictions, weights)
    return weighted_macro_f1(labels, predictions, weights, num_classes)


def unseen_sample_counts(observed: int, size: int, draws: int, seed: int) -> np.ndarray:
    """`draws` seeded samples of `size` items that stand for an unseen sample, from `observed` items.

    Each draw bootstraps the `observed` items (a population they could have come from),
    then draws `size` items from that population with replacement. So a statistic of
    the draws spreads around the observed one as much as an unseen sample's statistic
    does: twice the variance of one sample when `size == observed`, as between a public
    and a private part. Returned as counts, draws x observed (how often each item was
    drawn), so that one set of draws can weight every team's predictions (paired).

    >>> unseen_sample_counts(4, 6, draws=2, seed=0).sum(axis=1)
    array([6, 6])
    """
    rng = np.random.default_rng(seed)
    population = rng.integers(0, observed, size=(draws, observed))
    items = np.take_along_axis(population, rng.integers(0, observed, size=(draws, size)), axis=1)
    items += (np.arange(draws) * observed)[:, None]
    return np.bincount(items.ravel(), minlength=draws * observed).reshape(draws, observed)


def weighted_macro_f1(labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray, num_classes: int) -> np.ndarray:
    """Macro-F1 over all `num_classes` classes of many predictions under many weightings.

    `predictions` is E x n (or n), `weights` D x n integer counts (a resample, or a 0/1
    mask of a part); returns E x D (or D). Each equals scikit-learn's
    `f1_score(labels, p, sample_weight=w, labels=range(num_classes), average="macro",
    zero_division=0)`: a class that has neither labels nor predictions scores 0.
    Per class F1 = 2 TP / (support + predicted), each a matrix product of the weights
    with one-hot columns (see `benchmarks/bench_forecast.py` for its speed).

    >>> weighted_macro_f1(np.array([0, 1, 1]), np.array([0, 1, 0]), np.array([[1, 1, 1], [1, 2, 0]]), 2).round(3)
    array([0.667, 1.   ])
    """
    single = np.ndim(predictions) == 1
    predictions = np.atleast_2d(predictions)
    w = np.asarray(weights, dtype=np.float32)  # integer counts below 2**24 are exact
    truth = np.eye(num_classes, dtype=np.float32)[labels]
    support = (w @ truth).astype(np.float64)
    out = np.empty((len(predictions), len(w)))
    for i, p in enumerate(predictions):
        predicted_hot = np.eye(num_classes, dtype=np.float32)[p]
        counts = (w @ np.hstack([predicted_hot, truth * (p == labels)[:, None]])).astype(np.float64)
        predicted, tp = counts[:, :num_classes], counts[:, num_classes:]
        denom = support + predicted
        f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
        out[i] = f1.mean(axis=1)
    return out[0] if single else out


BATCH_BYTES = 64 * 2**20
"""Input bytes per evaluation batch at most: big images get smaller batches."""


def effective_batch_size(requested: int, image_shape: tuple[int, ...]) -> int:
    """The configured batch size, capped so that one input batch stays within BATCH_BYTES.

    >>> effective_batch_size(256, (3, 28, 28)), effective_batch_size(256, (3, 224, 224))
    (256, 111)
    """
    per_image = 4 * int(np.prod(image_shape))
    return max(1, min(requested, BATCH_BYTES // max(per_image, 1)))


def predict_logits(
    model,
    images: np.ndarray,
    batch_size: int,
    num_classes: int,
    device: str = "cpu",
    on_advance: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Run `model` (any callable) over N x 3 x H x W float32 `images` in batches; return N x C logits.

    Raises WorkerError("invalid_output") for a wrong shape or non-finite logits.
    """
    import torch

    out = np.empty((len(images), num_classes), dtype=np.float32)
    # no_grad rather than inference_mode: composite ops then decompose exactly as
    # they do under ptflops' count, so the verifier's traces are comparable.
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.array(images[start:start + batch_size], dtype=np.float32)).to(device)
            logits = model(batch)
            if not isinstance(logits, torch.Tensor):
                raise WorkerError("invalid_output", f"the model returned {type(logits).__name__}, not a tensor of logits")
            if tuple(logits.shape) != (len(batch), num_classes):
                raise WorkerError(
                    "invalid_output",
                    f"the model returned logits of shape {tuple(logits.shape)}; expected {(len(batch), num_classes)} (N x num_classes)",
                )
            logits = logits.float().cpu().numpy()
            if not np.isfinite(logits).all():
                raise WorkerError("invalid_output", "the model returned NaN or infinite logits")
            out[start:start + len(batch)] = logits
            if on_advance:
                on_advance(len(batch))
    return out
