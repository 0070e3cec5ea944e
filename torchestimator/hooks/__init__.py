"""Hooks and saving listeners (see :mod:`torchestimator.hooks.base` for the firing order)."""

from torchestimator.hooks.base import CheckpointSaverListener, Hook, RunContext
from torchestimator.hooks.basic import (
    HParamsHook,
    InMemoryEvaluatorHook,
    LoggingHook,
    NanTensorHook,
    ProgressBarHook,
    StopAtStepHook,
    SummarySaverHook,
)
from torchestimator.hooks.checkpoint_saver import CheckpointSaverHook
from torchestimator.hooks.early_stopping import (
    make_early_stopping_hook,
    stop_if_higher_hook,
    stop_if_lower_hook,
    stop_if_no_decrease_hook,
    stop_if_no_increase_hook,
)
from torchestimator.hooks.graph import GraphSummaryHook
from torchestimator.hooks.profiler import ProfilerHook
from torchestimator.hooks.session_run import (
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
    StepSession,
)
from torchestimator.hooks.session_run_hooks import (
    FeedFnHook,
    FinalOpsHook,
    GlobalStepWaiterHook,
    LoggingTensorHook,
    StepCounterHook,
)
from torchestimator.hooks.timer import SecondOrStepTimer

__all__ = [
    "CheckpointSaverHook",
    "CheckpointSaverListener",
    "FeedFnHook",
    "FinalOpsHook",
    "GlobalStepWaiterHook",
    "GraphSummaryHook",
    "HParamsHook",
    "Hook",
    "InMemoryEvaluatorHook",
    "LoggingHook",
    "LoggingTensorHook",
    "NanTensorHook",
    "ProfilerHook",
    "ProgressBarHook",
    "RunContext",
    "SecondOrStepTimer",
    "SessionRunArgs",
    "SessionRunContext",
    "SessionRunHook",
    "SessionRunValues",
    "StepCounterHook",
    "StepSession",
    "StopAtStepHook",
    "SummarySaverHook",
    "make_early_stopping_hook",
    "stop_if_higher_hook",
    "stop_if_lower_hook",
    "stop_if_no_decrease_hook",
    "stop_if_no_increase_hook",
]
