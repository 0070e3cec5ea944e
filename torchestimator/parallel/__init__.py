"""Distribution: the Strategy seam, TF_CONFIG parsing and input contexts."""

from torchestimator.parallel.input_context import InputContext
from torchestimator.parallel.resolve import resolve_strategy
from torchestimator.parallel.strategy import SingleDeviceStrategy, Strategy
from torchestimator.parallel.tf_config import ClusterInfo, TaskType, parse_tf_config

__all__ = [
    "ClusterInfo",
    "InputContext",
    "SingleDeviceStrategy",
    "Strategy",
    "TaskType",
    "parse_tf_config",
    "resolve_strategy",
]
