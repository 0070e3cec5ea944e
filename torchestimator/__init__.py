"""torchestimator: the TensorFlow Estimator workflow, rebuilt on PyTorch.

The top level mirrors ``tf.estimator``: ``Estimator``, ``EstimatorSpec``, ``ModeKeys``, ``RunConfig``, the
pre-made estimators and heads; ``torchestimator.feature_column`` mirrors ``tf.feature_column``;
``torchestimator.inputs`` holds the CSV / TFRecord / numpy input pipelines; ``torchestimator.export``
and ``torchestimator.serving`` the export and serving side. Optional dependencies (onnxruntime,
TensorFlow, torch-xla, torchvision) are imported only by the functions that need them.
"""

from torchestimator import checkpoint, errors, feature_column, hooks, inputs, metrics, optimizers, parallel
from torchestimator._version import __version__
from torchestimator.errors import NanLossDuringTrainingError
from torchestimator.estimator import Estimator
from torchestimator.heads import (
    BinaryClassHead,
    Head,
    LogisticRegressionHead,
    LossReduction,
    MetricKeys,
    MultiClassHead,
    MultiHead,
    MultiLabelHead,
    PoissonRegressionHead,
    PredictionKeys,
    RegressionHead,
)
from torchestimator.hooks import CheckpointSaverListener
from torchestimator.parallel import InputContext
from torchestimator.run_config import RunConfig
from torchestimator.spec import EstimatorSpec, ModeKeys

__all__ = [
    "BinaryClassHead",
    "CheckpointSaverListener",
    "Estimator",
    "EstimatorSpec",
    "Head",
    "InputContext",
    "LogisticRegressionHead",
    "LossReduction",
    "MetricKeys",
    "ModeKeys",
    "MultiClassHead",
    "MultiHead",
    "MultiLabelHead",
    "NanLossDuringTrainingError",
    "PoissonRegressionHead",
    "PredictionKeys",
    "RegressionHead",
    "RunConfig",
    "__version__",
    "checkpoint",
    "errors",
    "feature_column",
    "hooks",
    "inputs",
    "metrics",
    "optimizers",
    "parallel",
]
