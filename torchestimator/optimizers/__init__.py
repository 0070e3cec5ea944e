"""Optimizers with TF's update rules and canned-estimator defaults (FTRL, Keras-legacy Adam/RMSProp)."""

from torchestimator.optimizers.adagrad import Adagrad
from torchestimator.optimizers.factory import (
    BASELINE_LEARNING_RATE,
    DNN_LINEAR_COMBINED_DNN_LEARNING_RATE,
    LINEAR_LEARNING_RATE,
    OPTIMIZER_NAMES,
    dnn_linear_combined_linear_learning_rate,
    get_optimizer,
    linear_default_learning_rate,
)
from torchestimator.optimizers.ftrl import Ftrl
from torchestimator.optimizers.keras_legacy import Adam, RMSProp

__all__ = [
    "BASELINE_LEARNING_RATE",
    "DNN_LINEAR_COMBINED_DNN_LEARNING_RATE",
    "LINEAR_LEARNING_RATE",
    "OPTIMIZER_NAMES",
    "Adagrad",
    "Adam",
    "Ftrl",
    "RMSProp",
    "dnn_linear_combined_linear_learning_rate",
    "get_optimizer",
    "linear_default_learning_rate",
]
