"""Accuracy / precision / recall / baseline against numpy, and streaming = one-shot."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchestimator.metrics import Accuracy, AccuracyBaseline, BinaryAccuracy, Precision, Recall, accumulate

RNG = np.random.default_rng(0)
LABELS = (RNG.random((40, 1)) < 0.5).astype(np.float32)
PROBS = RNG.random((40, 1))
WEIGHTS = RNG.uniform(0.2, 2.0, (40, 1))


def _np_precision_recall(threshold: float) -> tuple[float, float]:
    pred = threshold < PROBS
    y = LABELS.astype(bool)
    tp = (WEIGHTS * (pred & y)).sum()
    fp = (WEIGHTS * (pred & ~y)).sum()
    fn = (WEIGHTS * (~pred & y)).sum()
    return tp / (tp + fp), tp / (tp + fn)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8])
def test_precision_recall_binary_accuracy_match_numpy(threshold: float) -> None:
    labels, probs, w = torch.tensor(LABELS), torch.tensor(PROBS), torch.tensor(WEIGHTS)
    precision, recall = _np_precision_recall(threshold)
    assert Precision(labels, probs, w, threshold).result() == pytest.approx(precision)
    assert Recall(labels, probs, w, threshold).result() == pytest.approx(recall)
    expected_acc = (WEIGHTS * ((threshold < PROBS) == LABELS)).sum() / WEIGHTS.sum()
    assert BinaryAccuracy(labels, probs, w, threshold).result() == pytest.approx(expected_acc)


def test_accuracy_and_baseline_match_numpy() -> None:
    class_ids = (PROBS > 0.5).astype(np.int64)
    expected = (WEIGHTS * (class_ids == LABELS)).sum() / WEIGHTS.sum()
    assert Accuracy(
        torch.tensor(LABELS), torch.tensor(class_ids), torch.tensor(WEIGHTS)
    ).result() == pytest.approx(expected)
    mean = (WEIGHTS * LABELS).sum() / WEIGHTS.sum()
    baseline = AccuracyBaseline(torch.tensor(LABELS), torch.tensor(WEIGHTS)).result()
    assert baseline == pytest.approx(max(mean, 1 - mean))


def test_zero_denominator_is_zero_like_keras() -> None:
    assert Precision(torch.tensor([1.0, 1.0]), torch.tensor([0.1, 0.2])).result() == 0.0
    assert Recall(torch.tensor([0.0, 0.0]), torch.tensor([0.9, 0.2])).result() == 0.0


def test_streaming_sum_of_batches_equals_one_shot() -> None:
    labels, probs, w = torch.tensor(LABELS), torch.tensor(PROBS), torch.tensor(WEIGHTS)
    totals: dict = {}
    for lo in range(0, 40, 7):
        sl = slice(lo, lo + 7)
        accumulate(
            totals,
            {
                "p": Precision(labels[sl], probs[sl], w[sl]),
                "r": Recall(labels[sl], probs[sl], w[sl]),
                "b": AccuracyBaseline(labels[sl], w[sl]),
            },
        )
    assert totals["p"].result() == pytest.approx(Precision(labels, probs, w).result())
    assert totals["r"].result() == pytest.approx(Recall(labels, probs, w).result())
    assert totals["b"].result() == pytest.approx(AccuracyBaseline(labels, w).result())
