"""Thresholded classification metrics as additive sufficient statistics (Keras semantics).

Written here rather than taken from torchmetrics: the heads need exactly what ``tf.keras.metrics``
computes in TF 2.15 heads (weights broadcast to the predictions, ``y_true`` cast to bool for
precision/recall, a strict ``>`` against the threshold, ``0/0 -> 0``), and each metric must be a
tuple of summable tensors the eval loop can add up on the device and all-reduce once. That is a
few lines per metric here; torchmetrics' ``Binary*`` classes keep their state inside a stateful
module instead, and count ``>=`` threshold.

=======================  ===================================  ======================================
class                    state (summed over batches)          value
=======================  ===================================  ======================================
``Accuracy``             (weighted matches, weight)           matches / weight  (``y_true == y_pred``)
``BinaryAccuracy``       (weighted matches, weight)           ``y_true == (y_pred > t)``
``Precision``            (tp, fp)                             tp / (tp + fp)
``Recall``               (tp, fn)                             tp / (tp + fn)
``AccuracyBaseline``     (weighted label sum, weight)         max(mean, 1 - mean)
=======================  ===================================  ======================================
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from torchestimator.metrics.base import Metric
from torchestimator.metrics.shapes import broadcast_weights, matched_labels_and_predictions

__all__ = ["Accuracy", "AccuracyBaseline", "BinaryAccuracy", "Precision", "Recall"]

_Weights = torch.Tensor | float | None


def _safe_div(num: float, den: float) -> float:
    return num / den if den else 0.0


class Accuracy(Metric):
    """Weighted fraction of ``predictions == labels`` (tf.keras.metrics.Accuracy).

    Args:
        labels: label values, any shape.
        predictions: predicted values (e.g. class ids), the shape of ``labels`` or differing by a
            trailing dimension of size 1 (squeezed, as TF does; never broadcast).
        weights: optional per-example weights (Keras' weight rules, see :mod:`.shapes`).

    Raises:
        InvalidArgumentError: shapes that TF would refuse.

    Example:
        >>> import torch
        >>> Accuracy(torch.tensor([1.0, 0.0]), torch.tensor([1, 1])).result()
        0.5
    """

    def __init__(self, labels: torch.Tensor, predictions: torch.Tensor, weights: _Weights = None) -> None:
        labels = torch.as_tensor(labels).double()
        predictions = torch.as_tensor(predictions, device=labels.device).double()
        name = type(self).__name__
        labels, predictions = matched_labels_and_predictions(labels, predictions, name)  # (B,) or (B, n)
        matches = (labels == predictions).double()
        w = broadcast_weights(weights, matches, name)
        super().__init__(((matches * w).sum(), w.sum()))

    @staticmethod
    def compute(state: Sequence[torch.Tensor]) -> float:
        total, count = (float(s) for s in state)
        return _safe_div(total, count)


class BinaryAccuracy(Accuracy):
    """Weighted fraction of ``labels == (probabilities > threshold)`` (tf.keras.metrics.BinaryAccuracy).

    Args:
        labels: labels in {0, 1}.
        probabilities: predicted probabilities, same shape as ``labels``.
        weights: optional per-example weights.
        threshold: a prediction strictly above it counts as class 1.
    """

    def __init__(
        self,
        labels: torch.Tensor,
        probabilities: torch.Tensor,
        weights: _Weights = None,
        threshold: float = 0.5,
    ) -> None:
        super().__init__(labels, torch.as_tensor(probabilities) > threshold, weights)


def _confusion(
    labels: torch.Tensor, predictions: torch.Tensor, weights: _Weights, threshold: float, metric: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted (tp, fp, fn) at one threshold, with Keras' casts (label -> bool, pred > threshold)."""
    predictions = torch.as_tensor(predictions).double()
    positive_label = torch.as_tensor(labels, device=predictions.device).bool()
    positive_label, predictions = matched_labels_and_predictions(positive_label, predictions, metric)  # (B,)
    predicted_positive = predictions > threshold  # (B,)
    w = broadcast_weights(weights, predictions, metric)
    tp = (w * (positive_label & predicted_positive)).sum()
    fp = (w * (~positive_label & predicted_positive)).sum()
    fn = (w * (positive_label & ~predicted_positive)).sum()
    return tp, fp, fn


class Precision(Metric):
    """Weighted precision at a threshold (tf.keras.metrics.Precision).

    Args:
        labels: labels; any nonzero value is a positive (Keras casts to bool).
        predictions: class ids or probabilities; ``> threshold`` is a positive prediction.
        weights: optional per-example weights.
        threshold: decision threshold (Keras' default 0.5).

    Example:
        >>> import torch
        >>> Precision(torch.tensor([1, 0, 1]), torch.tensor([1, 1, 0])).result()
        0.5
    """

    def __init__(
        self,
        labels: torch.Tensor,
        predictions: torch.Tensor,
        weights: _Weights = None,
        threshold: float = 0.5,
    ) -> None:
        tp, fp, _ = _confusion(labels, predictions, weights, threshold, type(self).__name__)
        super().__init__((tp, fp))

    @staticmethod
    def compute(state: Sequence[torch.Tensor]) -> float:
        tp, fp = (float(s) for s in state)
        return _safe_div(tp, tp + fp)


class Recall(Metric):
    """Weighted recall at a threshold (tf.keras.metrics.Recall); arguments as :class:`Precision`.

    Example:
        >>> import torch
        >>> Recall(torch.tensor([1, 0, 1]), torch.tensor([1, 1, 0])).result()
        0.5
    """

    def __init__(
        self,
        labels: torch.Tensor,
        predictions: torch.Tensor,
        weights: _Weights = None,
        threshold: float = 0.5,
    ) -> None:
        tp, _, fn = _confusion(labels, predictions, weights, threshold, type(self).__name__)
        super().__init__((tp, fn))

    @staticmethod
    def compute(state: Sequence[torch.Tensor]) -> float:
        tp, fn = (float(s) for s in state)
        return _safe_div(tp, tp + fn)


class AccuracyBaseline(Metric):
    """Best accuracy of always predicting one class: ``max(label_mean, 1 - label_mean)``.

    The state is the label mean's (weighted sum, weight), so it streams and reduces like ``label/mean``
    (TF's BinaryClassHead derives it from that metric's ``total`` / ``count`` the same way).

    Args:
        labels: binary labels.
        weights: optional per-example weights.
    """

    def __init__(self, labels: torch.Tensor, weights: _Weights = None) -> None:
        labels = torch.as_tensor(labels).double()
        w = broadcast_weights(weights, labels, type(self).__name__)
        super().__init__(((labels * w).sum(), w.sum()))

    @staticmethod
    def compute(state: Sequence[torch.Tensor]) -> float:
        total, count = (float(s) for s in state)
        return _safe_div(max(total, count - total), count)
