"""torchestimator: the TensorFlow Estimator workflow, rebuilt on PyTorch."""

from torchestimator._version import __version__
from torchestimator.errors import NanLossDuringTrainingError
from torchestimator import checkpoint
from torchestimator.estimator import Estimator
from torchestimator.run_config import RunConfig
from torchestimator.spec import EstimatorSpec, ModeKeys

__all__ = [
    "EstimatorSpec",
    "ModeKeys",
    "NanLossDuringTrainingError",
    "__version__",
]
