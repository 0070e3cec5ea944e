"""Heads: loss, predictions, metrics and EstimatorSpec per label type (tf.estimator heads)."""

from torchestimator.heads.base import Head, numeric_predictions_only
from torchestimator.heads.binary_class import BinaryClassHead
from torchestimator.heads.export_output import (
    ClassificationOutput,
    ExportOutput,
    PredictOutput,
    RegressionOutput,
)
from torchestimator.heads.keys import LossReduction, MetricKeys, PredictionKeys
from torchestimator.heads.multi_class import MultiClassHead
from torchestimator.heads.multi_head import MultiHead
from torchestimator.heads.multi_label import MultiLabelHead
from torchestimator.heads.regression import LogisticRegressionHead, PoissonRegressionHead, RegressionHead
from torchestimator.heads.sequential import SequentialHeadWrapper
from torchestimator.heads.weight_keys import find_weight_keys

__all__ = [
    "BinaryClassHead",
    "ClassificationOutput",
    "ExportOutput",
    "Head",
    "LogisticRegressionHead",
    "LossReduction",
    "MetricKeys",
    "MultiClassHead",
    "MultiHead",
    "MultiLabelHead",
    "PoissonRegressionHead",
    "PredictOutput",
    "PredictionKeys",
    "RegressionHead",
    "RegressionOutput",
    "SequentialHeadWrapper",
    "find_weight_keys",
    "numeric_predictions_only",
]
