"""Streaming metrics (additive sufficient statistics) used by heads and the eval loop.

The lowercase names are TF's metric functions (:mod:`torchestimator.metrics.functional`):
``te.metrics.auc(labels, predictions)`` returns a streamed metric for ``eval_metric_ops``. ``te.metrics.auc`` is
also still the module holding :class:`AUC` (a callable module), so existing imports keep working.
"""

from torchestimator.metrics.auc import AUC, AUCPrecisionRecall, auc_histograms
from torchestimator.metrics.base import Mean, Metric, accumulate
from torchestimator.metrics.classification import (
    Accuracy,
    AccuracyBaseline,
    BinaryAccuracy,
    Precision,
    Recall,
)
from torchestimator.metrics.external import ExternalMetric
from torchestimator.metrics.functional import (
    accuracy,
    mean,
    mean_absolute_error,
    mean_squared_error,
    precision,
    recall,
    root_mean_squared_error,
)
from torchestimator.metrics.regression import MeanAbsoluteError, MeanSquaredError, RootMeanSquaredError
from torchestimator.metrics.shapes import (
    broadcast_weights,
    matched_labels_and_predictions,
    remove_squeezable_dimensions,
)

__all__ = [
    "AUC",
    "AUCPrecisionRecall",
    "Accuracy",
    "AccuracyBaseline",
    "BinaryAccuracy",
    "ExternalMetric",
    "Mean",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "Metric",
    "Precision",
    "Recall",
    "RootMeanSquaredError",
    "accumulate",
    "accuracy",
    "auc",
    "auc_histograms",
    "broadcast_weights",
    "matched_labels_and_predictions",
    "mean",
    "mean_absolute_error",
    "mean_squared_error",
    "precision",
    "recall",
    "remove_squeezable_dimensions",
    "root_mean_squared_error",
]
