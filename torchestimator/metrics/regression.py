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

Built with ``(labels, predictions[, weights])`` a metric is one batch's contribution (the eval loop sums them).
Built with no arguments it is Keras-style (``tf.keras.metrics.RootMeanSquaredError()``): keep it on the model,
call ``update_state(y_true, y_pred, sample_weight=None)`` in ``forward`` and return the same object in
``eval_metric_ops``; ``Estimator.evaluate`` resets it first (``reset_state``) and reads it once at the end.

>>> import torch
>>> MeanSquaredError(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 3.0])).result()
2.5
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.metrics.base import Metric
from torchestimator.metrics.shapes import broadcast_weights, matched_labels_and_predictions

__all__ = ["MeanAbsoluteError", "MeanSquaredError", "RootMeanSquaredError"]

_Weights = torch.Tensor | float | None


def _weighted_errors(
    labels: torch.Tensor | None, predictions: torch.Tensor | None, weights: _Weights, squared: bool, name: str
) -> tuple[torch.Tensor, torch.Tensor]:
    if labels is None or predictions is None:
        raise InvalidArgumentError(
            f"{name} needs both labels and predictions (or neither, for the Keras-style metric); received "
            f"labels={'None' if labels is None else 'a tensor'}, predictions="
            f"{'None' if predictions is None else 'a tensor'}."
        )
    labels = torch.as_tensor(labels).double()
    predictions = torch.as_tensor(predictions, device=labels.device).double()
    labels, predictions = matched_labels_and_predictions(labels, predictions, name)
    diff = predictions - labels
    errors = diff * diff if squared else diff.abs()
    w = broadcast_weights(weights, errors, name)
    return (errors * w).sum(), w.sum()


class _KerasStyle(Metric):
    """Adds Keras' stateful API to an additive metric built with no arguments."""

    stateful = False

    def _start_empty(self) -> None:
        super().__init__((torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)))
        self.stateful = True

    def update_state(
        self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: _Weights = None
    ) -> None:
        """Add a batch (Keras' ``update_state``)."""
        batch: Metric = type(self)(y_true, y_pred, sample_weight)  # type: ignore[call-arg,arg-type]
        self.state = tuple(a + b.to(a.device) for a, b in zip(self.state, batch.state))

    def reset_state(self) -> None:
        """Forget every batch (Keras' ``reset_state``)."""
        self.state = tuple(torch.zeros_like(s) for s in self.state)


def _ratio(state: Sequence[torch.Tensor]) -> float:
    total, count = (float(s) for s in state)
    return total / count if count else 0.0


class MeanSquaredError(_KerasStyle):
    """Weighted mean of ``(predictions - labels)²``.

    Args:
        labels: targets.
        predictions: predicted values, the shape of ``labels`` (or one trailing dimension of size 1 apart).
        weights: optional weights.
    """

    def __init__(
        self,
        labels: torch.Tensor | None = None,
        predictions: torch.Tensor | None = None,
        weights: _Weights = None,
    ) -> None:
        if labels is None and predictions is None:
            self._start_empty()
            return
        super().__init__(_weighted_errors(labels, predictions, weights, True, type(self).__name__))

    @staticmethod
    def compute(state: Sequence[torch.Tensor]) -> float:
        return _ratio(state)


class RootMeanSquaredError(MeanSquaredError):
    """Square root of the streamed :class:`MeanSquaredError` (not a mean of per-batch roots)."""

    @staticmethod
    def compute(state: Sequence[torch.Tensor]) -> float:
        return math.sqrt(_ratio(state))


class MeanAbsoluteError(_KerasStyle):
    """Weighted mean of ``|predictions - labels|``; arguments as :class:`MeanSquaredError`."""

    def __init__(
        self,
        labels: torch.Tensor | None = None,
        predictions: torch.Tensor | None = None,
        weights: _Weights = None,
    ) -> None:
        if labels is None and predictions is None:
            self._start_empty()
            return
        super().__init__(_weighted_errors(labels, predictions, weights, False, type(self).__name__))

    @staticmethod
    def compute(state: Sequence[torch.Tensor]) -> float:
        return _ratio(state)
