"""Regression errors as additive states (tf.compat.v1.metrics.mean_squared_error / root_mean_squared_error /
mean_absolute_error, tf.keras.metrics.MeanSquaredError / RootMeanSquaredError / MeanAbsoluteError).

=========================  =========================================  ======================
class                      state (summed over batches)                value
=========================  =========================================  ======================
``MeanSquaredError``       ``Σ w·(p - y)²``, ``Σ w``                  ratio
``RootMeanSquaredError``   same                                       ``sqrt`` of the ratio
``MeanAbsoluteError``      ``Σ w·|p - y|``, ``Σ w``                   ratio
=========================  =========================================  ======================

Labels and predictions must have the same shape, or differ by a trailing dimension of size 1 (squeezed as TF
does); weights follow Keras' rules (:func:`~torchestimator.metrics.shapes.broadcast_weights`).

>>> import torch
>>> MeanSquaredError(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 3.0])).result()
2.5
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from torchestimator.metrics.base import Metric
from torchestimator.metrics.shapes import broadcast_weights, matched_labels_and_predictions

__all__ = ["MeanAbsoluteError", "MeanSquaredError", "RootMeanSquaredError"]

_Weights = torch.Tensor | float | None


def _weighted_errors(
    labels: torch.Tensor, predictions: torch.Tensor, weights: _Weights, squared: bool, name: str
) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.as_tensor(labels).double()
    predictions = torch.as_tensor(predictions, device=labels.device).double()
    labels, predictions = matched_labels_and_predictions(labels, predictions, name)
    diff = predictions - labels
    errors = diff * diff if squared else diff.abs()
    w = broadcast_weights(weights, errors, name)
    return (errors * w).sum(), w.sum()


def _ratio(state: Sequence[torch.Tensor]) -> float:
    total, count = (float(s) for s in state)
    return total / count if count else 0.0


class MeanSquaredError(Metric):
    """Weighted mean of ``(predictions - labels)²``.

    Args:
        labels: targets.
        predictions: predicted values, the shape of ``labels`` (or one trailing dimension of size 1 apart).
        weights: optional weights.
    """

    def __init__(self, labels: torch.Tensor, predictions: torch.Tensor, weights: _Weights = None) -> None:
        super().__init__(_weighted_errors(labels, predictions, weights, True, type(self).__name__))

    @staticmethod
    def compute(state: Sequence[torch.Tensor]) -> float:
        return _ratio(state)


class RootMeanSquaredError(MeanSquaredError):
    """Square root of the streamed :class:`MeanSquaredError` (not a mean of per-batch roots)."""

    @staticmethod
    def compute(state: Sequence[torch.Tensor]) -> float:
        return math.sqrt(_ratio(state))


class MeanAbsoluteError(Metric):
    """Weighted mean of ``|predictions - labels|``; arguments as :class:`MeanSquaredError`."""

    def __init__(self, labels: torch.Tensor, predictions: torch.Tensor, weights: _Weights = None) -> None:
        super().__init__(_weighted_errors(labels, predictions, weights, False, type(self).__name__))

    @staticmethod
    def compute(state: Sequence[torch.Tensor]) -> float:
        return _ratio(state)
