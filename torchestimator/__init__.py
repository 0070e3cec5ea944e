"""torchestimator: the TensorFlow Estimator workflow, rebuilt on PyTorch.

The top level mirrors ``tf.estimator``: ``Estimator``, ``EstimatorSpec``, ``ModeKeys``, ``RunConfig``, the
pre-made estimators and heads; ``torchestimator.feature_column`` mirrors ``tf.feature_column``;
``torchestimator.inputs`` holds the CSV / TFRecord / numpy input pipelines; ``torchestimator.export``
and ``torchestimator.serving`` the export and serving side; ``torchestimator.compat`` imports TF
checkpoints and SavedModel variables (without TensorFlow). Optional dependencies (onnxruntime,
TensorFlow, torch-xla, torchvision) are imported only by the functions that need them; the modules that
exist to reach them (``plot``, ``serving``, ``tf_bridge``) are imported on first attribute access.
"""

import importlib
from typing import Any

from torchestimator import (
    checkpoint,
    compat,
    data,
    datasets,
    errors,
    experimental,
    export,
    feature_column,
    hooks,
    inputs,
    io,
    metrics,
    optimizers,
    parallel,
    premade,
    summary,
)
from torchestimator._version import __version__
from torchestimator.add_metrics import add_metrics
from torchestimator.errors import NanLossDuringTrainingError
from torchestimator.estimator import Estimator, EvalSpec, TrainSpec, train_and_evaluate
from torchestimator.export.exporters import BestExporter, Exporter, FinalExporter, LatestExporter
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
from torchestimator.hooks import (
    CheckpointSaverHook,
    CheckpointSaverListener,
    FeedFnHook,
    FinalOpsHook,
    GlobalStepWaiterHook,
    LoggingTensorHook,
    NanTensorHook,
    ProfilerHook,
    SecondOrStepTimer,
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
    StepCounterHook,
    StopAtStepHook,
    SummarySaverHook,
)
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
    KMeans,
    LinearClassifier,
    LinearEstimator,
    LinearRegressor,
    LinearSDCA,
    RNNClassifier,
    RNNEstimator,
)
from torchestimator.run_config import RunConfig
from torchestimator.spec import EstimatorSpec, ModeKeys
from torchestimator.warm_start import VocabInfo, WarmStartSettings

__all__ = [
    "BaselineClassifier",
    "BaselineEstimator",
    "BaselineRegressor",
    "BestExporter",
    "BinaryClassHead",
    "CheckpointSaverHook",
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
    "FeedFnHook",
    "FinalExporter",
    "FinalOpsHook",
    "GlobalStepWaiterHook",
    "Head",
    "InputContext",
    "KMeans",
    "LatestExporter",
    "LinearClassifier",
    "LinearEstimator",
    "LinearRegressor",
    "LinearSDCA",
    "LoggingTensorHook",
    "LogisticRegressionHead",
    "LossReduction",
    "MetricKeys",
    "ModeKeys",
    "MultiClassHead",
    "MultiHead",
    "MultiLabelHead",
    "NanLossDuringTrainingError",
    "NanTensorHook",
    "PoissonRegressionHead",
    "PredictionKeys",
    "ProfilerHook",
    "RNNClassifier",
    "RNNEstimator",
    "RegressionHead",
    "RunConfig",
    "SecondOrStepTimer",
    "SessionRunArgs",
    "SessionRunContext",
    "SessionRunHook",
    "SessionRunValues",
    "StepCounterHook",
    "StopAtStepHook",
    "SummarySaverHook",
    "TrainSpec",
    "VocabInfo",
    "WarmStartSettings",
    "__version__",
    "add_metrics",
    "checkpoint",
    "compat",
    "data",
    "datasets",
    "errors",
    "experimental",
    "export",
    "feature_column",
    "hooks",
    "inputs",
    "io",
    "metrics",
    "model_to_estimator",
    "optimizers",
    "parallel",
    "plot",
    "premade",
    "serving",
    "summary",
    "tf_bridge",
    "train_and_evaluate",
]

_LAZY_SUBPACKAGES = frozenset({"plot", "serving", "tf_bridge"})


def __getattr__(name: str) -> Any:
    """Import the lazily loaded subpackages (``te.serving``, ``te.tf_bridge``) on first access."""
    if name in _LAZY_SUBPACKAGES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY_SUBPACKAGES)
