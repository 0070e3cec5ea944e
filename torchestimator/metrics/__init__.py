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
]
