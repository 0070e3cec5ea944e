"""Metric functions with TF's names and arguments: ``te.metrics.auc(labels, predictions)`` and friends.

Each takes ``tf.compat.v1.metrics``' arguments ``(labels, predictions, weights=None, ...)`` and returns the
batch's streamed :class:`~torchestimator.metrics.Metric`, which goes straight into ``eval_metric_ops``; the
eval loop sums it over the eval set (and processes) before computing the value, as TF's ``update_op`` /
``value`` pair does. (``te.compat.v1.metrics`` returns TF1's ``(value, update_op)`` tuples instead.)

=============================  ==============================================  ===============================
function                       value                                           TF
=============================  ==============================================  ===============================
``accuracy``                   weighted fraction of ``predictions == labels``  tf.compat.v1.metrics.accuracy
``auc``                        area under ROC (``curve='PR'``: PR), 200        tf.compat.v1.metrics.auc
                               thresholds
``precision`` / ``recall``     a prediction is positive when nonzero           tf.compat.v1.metrics.precision
``mean``                       weighted mean of ``values``                     tf.compat.v1.metrics.mean
``mean_squared_error``         weighted mean of squared errors                 ..._squared_error
``root_mean_squared_error``    its square root (of the streamed mean)          ..._root_mean_squared_error
``mean_absolute_error``        weighted mean of absolute errors                ..._absolute_error
=============================  ==============================================  ===============================

>>> import torch
>>> from torchestimator import metrics
>>> metrics.auc(torch.tensor([0, 0, 1, 1]), torch.tensor([0.1, 0.4, 0.35, 0.8])).result()
0.75
"""

from __future__ import annotations

import sys
import types
from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.metrics import auc as _auc_module
from torchestimator.metrics.auc import AUC, AUCPrecisionRecall
from torchestimator.metrics.base import Mean, Metric
from torchestimator.metrics.classification import Accuracy, Precision, Recall
from torchestimator.metrics.regression import MeanAbsoluteError, MeanSquaredError, RootMeanSquaredError

__all__ = [
    "accuracy",
    "auc",
    "mean",
    "mean_absolute_error",
    "mean_squared_error",
    "precision",
    "recall",
    "root_mean_squared_error",
]


def accuracy(labels: Any, predictions: Any, weights: Any = None, **_tf_only: Any) -> Metric:
    """Weighted fraction of ``predictions == labels`` (``metrics_collections`` / ``name`` are ignored)."""
    return Accuracy(labels, predictions, weights)


def auc(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    num_thresholds: int = 200,
    curve: str = "ROC",
    summation_method: str = "trapezoidal",
    **_tf_only: Any,
) -> Metric:
    """Area under the ROC or PR curve over ``num_thresholds`` thresholds (TF's bucketing).

    Raises:
        InvalidArgumentError: ``curve`` not 'ROC' / 'PR', or a ``summation_method`` other than TF's
            'trapezoidal' / 'careful_interpolation' for ROC (the same trapezoid) and 'careful_interpolation' for PR.
    """
    if curve not in ("ROC", "PR"):
        raise InvalidArgumentError(f"auc: curve must be 'ROC' or 'PR'; received {curve!r}.")
    if summation_method not in ("trapezoidal", "careful_interpolation"):
        raise InvalidArgumentError(
            "auc: summation_method must be 'trapezoidal' or 'careful_interpolation'; received "
            f"{summation_method!r}."
        )
    if curve == "ROC":
        return AUC(labels, predictions, weights, num_thresholds)
    if summation_method != "careful_interpolation":
        raise InvalidArgumentError(
            "auc(curve='PR') is computed with TF's careful_interpolation; pass summation_method="
            "'careful_interpolation' (TF1's 'trapezoidal' PR value overestimates and is not reproduced)."
        )
    return AUCPrecisionRecall(labels, predictions, weights, num_thresholds)


def _nonzero(predictions: Any) -> torch.Tensor:
    return (torch.as_tensor(predictions) != 0).float()


def precision(labels: Any, predictions: Any, weights: Any = None, **_tf_only: Any) -> Metric:
    """Weighted precision; as TF1, a prediction (and a label) is positive when nonzero."""
    return Precision(labels, _nonzero(predictions), weights)


def recall(labels: Any, predictions: Any, weights: Any = None, **_tf_only: Any) -> Metric:
    """Weighted recall; as TF1, a prediction (and a label) is positive when nonzero."""
    return Recall(labels, _nonzero(predictions), weights)


def mean(values: Any, weights: Any = None, **_tf_only: Any) -> Metric:
    """Weighted mean of ``values``."""
    return Mean(values, weights)


def mean_squared_error(labels: Any, predictions: Any, weights: Any = None, **_tf_only: Any) -> Metric:
    """Weighted mean of ``(predictions - labels)²``."""
    return MeanSquaredError(labels, predictions, weights)


def root_mean_squared_error(labels: Any, predictions: Any, weights: Any = None, **_tf_only: Any) -> Metric:
    """Square root of the streamed mean squared error."""
    return RootMeanSquaredError(labels, predictions, weights)


def mean_absolute_error(labels: Any, predictions: Any, weights: Any = None, **_tf_only: Any) -> Metric:
    """Weighted mean of ``|predictions - labels|``."""
    return MeanAbsoluteError(labels, predictions, weights)


class _CallableAucModule(types.ModuleType):
    """``te.metrics.auc`` is the module holding :class:`AUC` (``from torchestimator.metrics.auc import AUC``
    keeps working) and also TF's function: ``te.metrics.auc(labels, predictions)`` (:func:`auc` above)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Metric:
        return auc(*args, **kwargs)


sys.modules[_auc_module.__name__].__class__ = _CallableAucModule
