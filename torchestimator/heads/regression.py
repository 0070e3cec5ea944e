"""Regression heads: squared error, Poisson and logistic (tf.estimator Regression/Poisson/LogisticRegressionHead)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from torchestimator.errors import InvalidArgumentError
from torchestimator.heads import labels as label_utils
from torchestimator.heads.base import Head, LossFn, check_label_range, check_prediction_keys
from torchestimator.heads.export_output import PredictOutput, RegressionOutput
from torchestimator.heads.keys import (
    DEFAULT_SERVING_KEY,
    PREDICT_SERVING_KEY,
    REGRESS_SERVING_KEY,
    LossReduction,
    MetricKeys,
    PredictionKeys,
)
from torchestimator.metrics import Mean, Metric

__all__ = ["LogisticRegressionHead", "PoissonRegressionHead", "RegressionHead", "log_poisson_loss"]

_KEYS = PredictionKeys


class RegressionHead(Head):
    """Regression with mean squared error (tf.estimator.RegressionHead).

    Logits and labels are ``[B, label_dimension]`` (labels may be ``[B]`` when it is 1). The loss is
    the squared error per element, weighted and reduced over batch *and* label dims (so
    ``SUM_OVER_BATCH_SIZE`` divides by ``B * label_dimension``). Weights may be ``[B]``, ``[B, 1]`` or
    ``[B, label_dimension]``.

    Args:
        label_dimension: number of regression targets per example (>= 1).
        weight_column: see :class:`Head`.
        loss_reduction: ``SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.
        loss_fn: optional per-element loss ``[B, label_dimension]``.
        inverse_link_fn: maps logits to predictions (then ``logits`` is also a prediction key).
        name: metric-key suffix.

    Example:
        >>> import torch
        >>> head = RegressionHead()
        >>> float(head.loss(torch.tensor([1.0, 3.0]), torch.tensor([[2.0], [3.0]])))
        0.5
    """

    _allow_per_logit_weights = True

    def __init__(
        self,
        label_dimension: int = 1,
        weight_column: Any = None,
        loss_reduction: str = LossReduction.SUM_OVER_BATCH_SIZE,
        loss_fn: LossFn | None = None,
        inverse_link_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
        name: str | None = None,
    ) -> None:
        if int(label_dimension) < 1:
            raise InvalidArgumentError(f"label_dimension must be >= 1; received {label_dimension}.")
        super().__init__(weight_column, loss_reduction, loss_fn, name)
        self._label_dimension = int(label_dimension)
        self._loss_dimension = self._label_dimension
        self._inverse_link_fn = inverse_link_fn

    @property
    def logits_dimension(self) -> int:
        return self._label_dimension

    @property
    def _expected_labels(self) -> str:  # type: ignore[override]
        d = self._label_dimension
        return f"one tensor or array of shape [batch, {d}]" + (" or [batch]" if d == 1 else "")

    def _prediction_keys(self) -> list[str]:
        return [_KEYS.PREDICTIONS, _KEYS.LOGITS] if self._inverse_link_fn else [_KEYS.PREDICTIONS]

    def _processed_labels(self, logits: torch.Tensor, labels: Any) -> torch.Tensor:
        values = self._label_tensor(labels, logits.device).to(torch.float32)
        return label_utils.reshape_labels_like_logits(
            values, logits, self._label_dimension, self._describe()
        )  # (B, D)

    def _default_unweighted_loss(self, labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        return (logits - labels.to(logits.dtype)) ** 2  # (B, D)

    def predictions(self, logits: torch.Tensor, keys: Sequence[str] | None = None) -> dict[Any, Any]:
        """``predictions`` (= ``inverse_link_fn(logits)`` or the logits), plus ``logits`` with a link."""
        valid = self._prediction_keys()
        keys = check_prediction_keys(keys, valid)
        logits = label_utils.as_float_logits(logits, self._label_dimension)
        out: dict[Any, Any] = {}
        if _KEYS.PREDICTIONS in keys:
            out[_KEYS.PREDICTIONS] = self._inverse_link_fn(logits) if self._inverse_link_fn else logits
        if _KEYS.LOGITS in keys:
            out[_KEYS.LOGITS] = logits
        return out

    def metrics(
        self,
        features: Mapping[str, Any] | None,
        logits: torch.Tensor,
        labels: Any,
        regularization_losses: Sequence[torch.Tensor] | None = None,
    ) -> dict[str, Metric]:
        """average_loss, label/mean, prediction/mean (+ regularization_loss)."""
        logits = label_utils.as_float_logits(logits, self._label_dimension).detach()
        labels_t = self._processed_labels(logits, labels)
        weights = self._weights(features, logits)
        loss = self._unweighted_loss(labels_t, logits, features).detach()
        predicted = self.predictions(logits, [_KEYS.PREDICTIONS])[_KEYS.PREDICTIONS]
        out: dict[str, Metric] = {
            self._summary_key(MetricKeys.LOSS_MEAN): Mean(loss, weights),
            self._summary_key(MetricKeys.PREDICTION_MEAN): Mean(predicted, weights),
            self._summary_key(MetricKeys.LABEL_MEAN): Mean(labels_t, weights),
        }
        out.update(self._regularization_metric(regularization_losses))
        return out

    def _export_outputs(self, predictions: dict[Any, Any]) -> dict[str, Any]:
        regression = RegressionOutput(predictions[_KEYS.PREDICTIONS])
        return {
            DEFAULT_SERVING_KEY: regression,
            REGRESS_SERVING_KEY: regression,
            PREDICT_SERVING_KEY: PredictOutput(predictions),
        }


def log_poisson_loss(
    targets: torch.Tensor, log_input: torch.Tensor, compute_full_loss: bool = False
) -> torch.Tensor:
    """``exp(c) - c * z`` elementwise, plus Stirling's term where ``z > 1`` if ``compute_full_loss``
    (tf.nn.log_poisson_loss).

    Args:
        targets: counts ``z`` (float tensor).
        log_input: log of the predicted rate ``c``, same shape.
        compute_full_loss: add ``z log z - z + 0.5 log(2 pi z)`` for ``z`` outside [0, 1].

    Returns:
        The elementwise loss.
    """
    result = torch.exp(log_input) - log_input * targets
    if compute_full_loss:
        safe = torch.where(targets > 0, targets, torch.ones_like(targets))
        stirling = safe * torch.log(safe) - safe + 0.5 * torch.log(2 * math.pi * safe)
        in_unit = (targets >= 0) & (targets <= 1)
        result = result + torch.where(in_unit, torch.zeros_like(targets), stirling)
    return result


class PoissonRegressionHead(RegressionHead):
    """Poisson regression: ``log_poisson_loss`` on log-rates, predictions ``exp(logits)``
    (tf.estimator.PoissonRegressionHead).

    Args:
        label_dimension: targets per example.
        weight_column: see :class:`Head`.
        loss_reduction: ``SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.
        compute_full_loss: include Stirling's approximation term (TF's default True).
        name: metric-key suffix.
    """

    def __init__(
        self,
        label_dimension: int = 1,
        weight_column: Any = None,
        loss_reduction: str = LossReduction.SUM_OVER_BATCH_SIZE,
        compute_full_loss: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(label_dimension, weight_column, loss_reduction, None, torch.exp, name)
        self._compute_full_loss = compute_full_loss

    def _default_unweighted_loss(self, labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        return log_poisson_loss(labels.to(logits.dtype), logits, self._compute_full_loss)  # (B, D)


class LogisticRegressionHead(RegressionHead):
    """Regression of a probability: sigmoid cross-entropy, predictions ``sigmoid(logits)``
    (tf.estimator.LogisticRegressionHead). Labels are floats in [0, 1].

    Args:
        weight_column: see :class:`Head`.
        loss_reduction: ``SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.
        name: metric-key suffix.
    """

    def __init__(
        self,
        weight_column: Any = None,
        loss_reduction: str = LossReduction.SUM_OVER_BATCH_SIZE,
        name: str | None = None,
    ) -> None:
        super().__init__(1, weight_column, loss_reduction, None, torch.sigmoid, name)

    def _processed_labels(self, logits: torch.Tensor, labels: Any) -> torch.Tensor:
        return check_label_range(
            super()._processed_labels(logits, labels), 2, "labels must be in range [0, 1]"
        )

    def _default_unweighted_loss(self, labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), reduction="none")  # (B, 1)
