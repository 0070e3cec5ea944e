"""Streaming metrics (additive sufficient statistics) used by heads and the eval loop."""

from torchestimator.metrics.auc import AUC, AUCPrecisionRecall, auc_histograms
from torchestimator.metrics.base import Mean, Metric, accumulate
from torchestimator.metrics.classification import (
    Accuracy,
    AccuracyBaseline,
    BinaryAccuracy,
    Precision,
    Recall,
)
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
    "Mean",
    "Metric",
    "Precision",
    "Recall",
    "accumulate",
    "auc_histograms",
    "broadcast_weights",
    "matched_labels_and_predictions",
    "remove_squeezable_dimensions",
]
