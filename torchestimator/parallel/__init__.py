"""Distribution: the Strategy seam, DDP / XLA strategies, TF_CONFIG parsing, launchers, input contexts."""

from torchestimator.parallel.ddp import DDPStrategy
from torchestimator.parallel.input_context import InputContext
from torchestimator.parallel.launch import run_local, torchrun_args_from_tf_config
from torchestimator.parallel.resolve import resolve_strategy
from torchestimator.parallel.strategy import SingleDeviceStrategy, Strategy
from torchestimator.parallel.tf_config import ClusterInfo, TaskType, parse_tf_config, training_tasks
from torchestimator.parallel.xla import XLAStrategy

__all__ = [
    "ClusterInfo",
    "DDPStrategy",
    "InputContext",
    "SingleDeviceStrategy",
    "Strategy",
    "TaskType",
    "XLAStrategy",
    "parse_tf_config",
    "resolve_strategy",
    "run_local",
    "torchrun_args_from_tf_config",
    "training_tasks",
]
