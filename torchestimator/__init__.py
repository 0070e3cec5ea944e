"""torchestimator: the TensorFlow Estimator workflow, rebuilt on PyTorch.

The top level mirrors ``tf.estimator``: ``Estimator``, ``EstimatorSpec``, ``ModeKeys``, ``RunConfig``, the
pre-made estimators and heads; ``torchestimator.feature_column`` mirrors ``tf.feature_column``;
``torchestimator.inputs`` holds the CSV / TFRecord / numpy input pipelines; ``torchestimator.export``
and ``torchestimator.serving`` the export and serving side. Optional dependencies (onnxruntime,
TensorFlow, torch-xla, torchvision) are imported only by the functions that need them.
"""

from torchestimator import (
    checkpoint,
    data,
    errors,
    export,
    feature_column,
    hooks,
    inputs,
    io,
    metrics,
    optimizers,
    parallel,
    premade,
)
from torchestimator._version import __version__
from torchestimator.errors import NanLossDuringTrainingError
from torchestimator.estimator import Estimator
from torchestimator.exporters import BestExporter, Exporter, FinalExporter, LatestExporter
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
from torchestimator.model_to_estimator import model_to_estimator
from torchestimator.parallel import InputContext
from torchestimator.premade import (
    BaselineClassifier,
    BaselineEstimator,
    BaselineRegressor,
    DNNClassifier,
    DNNEstimator,
    DNNLinearCombinedClassifier,
    DNNLinearCombinedEstimator,
    DNNLinearCombinedRegressor,
    DNNRegressor,
    LinearClassifier,
    LinearEstimator,
    LinearRegressor,
)
from torchestimator.run_config import RunConfig
from torchestimator.spec import EstimatorSpec, ModeKeys
from torchestimator.training import EvalSpec, TrainSpec, train_and_evaluate
from torchestimator.vocab_remap import VocabInfo
from torchestimator.warm_start import WarmStartSettings

__all__ = [
    "BaselineClassifier",
    "BaselineEstimator",
    "BaselineRegressor",
    "BestExporter",
    "BinaryClassHead",
    "CheckpointSaverListener",
    "DNNClassifier",
    "DNNEstimator",
    "DNNLinearCombinedClassifier",
    "DNNLinearCombinedEstimator",
    "DNNLinearCombinedRegressor",
    "DNNRegressor",
    "Estimator",
    "EstimatorSpec",
    "EvalSpec",
    "Exporter",
    "FinalExporter",
    "Head",
    "InputContext",
    "LatestExporter",
    "LinearClassifier",
    "LinearEstimator",
    "LinearRegressor",
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
    "TrainSpec",
    "VocabInfo",
    "WarmStartSettings",
    "__version__",
    "checkpoint",
    "data",
    "errors",
    "export",
    "feature_column",
    "hooks",
    "inputs",
    "io",
    "metrics",
    "model_to_estimator",
    "optimizers",
    "parallel",
    "premade",
    "train_and_evaluate",
]
