"""AUC / AUC-PR against an independent numpy oracle of Keras' definition (threshold by threshold)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchestimator.metrics import AUC, AUCPrecisionRecall, accumulate


def _keras_confusion(labels: np.ndarray, preds: np.ndarray, weights: np.ndarray, t: int = 200) -> tuple:
    """Direct comparison ``p > threshold`` at Keras' thresholds (no histogram)."""
    eps = 1e-7
    thresholds = np.array([-eps] + [(i + 1) / (t - 1) for i in range(t - 2)] + [1 + eps])
    y = labels.astype(bool).reshape(-1)
    p = np.clip(preds, 0, 1).reshape(-1)
    w = np.broadcast_to(weights, preds.shape).reshape(-1)
    above = p[None, :] > thresholds[:, None]  # (T, N)
    tp = (above * (y * w)).sum(1)
    fp = (above * (~y * w)).sum(1)
    fn = (y * w).sum() - tp
    tn = (~y * w).sum() - fp
    return tp, fp, fn, tn


def _roc_oracle(labels: np.ndarray, preds: np.ndarray, weights: np.ndarray) -> float:
    tp, fp, fn, tn = _keras_confusion(labels, preds, weights)
    tpr = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1e-300), 0)
    fpr = np.where(fp + tn > 0, fp / np.maximum(fp + tn, 1e-300), 0)
    return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))


def _pr_oracle(labels: np.ndarray, preds: np.ndarray, weights: np.ndarray) -> float:
    """Davis & Goadrich interpolation written out segment by segment."""
    tp, fp, fn, _ = _keras_confusion(labels, preds, weights)
    total = 0.0
    for i in range(len(tp) - 1):
        p0, p1 = tp[i] + fp[i], tp[i + 1] + fp[i + 1]
        dtp, dp = tp[i] - tp[i + 1], p0 - p1
        slope = dtp / dp if dp > 0 else 0.0
        intercept = tp[i + 1] - slope * p1
        ratio = p0 / p1 if (p0 > 0 and p1 > 0) else 1.0
        denom = tp[i + 1] + fn[i + 1]
        if denom > 0:
            total += slope * (dtp + intercept * np.log(ratio)) / denom
    return total


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_threshold_by_threshold_oracle(seed: int) -> None:
    rng = np.random.default_rng(seed)
    preds = rng.random((200, 1))
    labels = (rng.random((200, 1)) < preds).astype(np.float32)
    weights = rng.uniform(0.1, 2.0, (200, 1))
    roc = AUC(torch.tensor(labels), torch.tensor(preds), torch.tensor(weights)).result()
    pr = AUCPrecisionRecall(torch.tensor(labels), torch.tensor(preds), torch.tensor(weights)).result()
    assert roc == pytest.approx(_roc_oracle(labels, preds, weights), abs=1e-9)
    assert pr == pytest.approx(_pr_oracle(labels, preds, weights), abs=1e-9)


def test_auc_edge_predictions_zero_and_one() -> None:
    preds = np.array([[0.0], [1.0], [0.0], [1.0], [0.5]])
    labels = np.array([[0], [1], [1], [0], [1]])
    ones = np.ones((5, 1))
    assert AUC(torch.tensor(labels), torch.tensor(preds)).result() == pytest.approx(
        _roc_oracle(labels, preds, ones)
    )
    assert AUCPrecisionRecall(torch.tensor(labels), torch.tensor(preds)).result() == pytest.approx(
        _pr_oracle(labels, preds, ones)
    )


def test_auc_streams_over_batches_like_one_shot() -> None:
    rng = np.random.default_rng(9)
    preds = torch.tensor(rng.random((90, 1)))
    labels = torch.tensor((rng.random((90, 1)) < 0.4).astype(np.float32))
    totals: dict = {}
    for lo in range(0, 90, 25):
        accumulate(totals, {"auc": AUC(labels[lo : lo + 25], preds[lo : lo + 25])})
        accumulate(totals, {"pr": AUCPrecisionRecall(labels[lo : lo + 25], preds[lo : lo + 25])})
    assert totals["auc"].result() == pytest.approx(AUC(labels, preds).result(), abs=1e-12)
    assert totals["pr"].result() == pytest.approx(AUCPrecisionRecall(labels, preds).result(), abs=1e-12)


def test_auc_of_perfect_ranking_is_one() -> None:
    labels = torch.tensor([0, 0, 0, 1, 1])
    preds = torch.tensor([0.1, 0.2, 0.3, 0.8, 0.9])
    assert AUC(labels, preds).result() == pytest.approx(1.0)
