"""Distribution: the Strategy seam, DDP / sharded-table / XLA strategies, TF_CONFIG parsing, launchers, input contexts."""

from typing import Any

from torchestimator.parallel.ddp import DDPStrategy
from torchestimator.parallel.input_context import InputContext
from torchestimator.parallel.resolve import resolve_strategy
from torchestimator.parallel.sharded import ShardedStrategy
from torchestimator.parallel.strategy import SingleDeviceStrategy, Strategy
from torchestimator.parallel.tf_config import ClusterInfo, TaskType, parse_tf_config, training_tasks
from torchestimator.parallel.xla import XLAStrategy

__all__ = [
    "ClusterInfo",
    "DDPStrategy",
    "InputContext",
    "ShardedStrategy",
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

# `launch` is imported on first use, not here: `python -m torchestimator.parallel.launch` imports this package
# first, and a launch module already in sys.modules makes runpy warn before running it.
_LAUNCH_NAMES = frozenset({"run_local", "torchrun_args_from_tf_config"})


def __getattr__(name: str) -> Any:
    if name in _LAUNCH_NAMES:
        from torchestimator.parallel import launch

        return getattr(launch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
