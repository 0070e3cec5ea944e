"""``make_stop_at_checkpoint_step_hook`` (tf.estimator.experimental): stop a worker once the chief's checkpoint
reaches ``last_step``.

On the chief it is a plain :class:`~torchestimator.hooks.StopAtStepHook`. Elsewhere, once the local global step
reaches ``last_step`` the hook reads the newest checkpoint step in ``model_dir`` and stops only when it has
reached ``last_step`` too, sleeping ``wait_after_file_check_secs`` after each check that finds it has not (TF's
``_StopAtCheckpointStepHook``).
"""

from __future__ import annotations

import time
from typing import Any

from torchestimator import checkpoint as ckpt_lib
from torchestimator.hooks.basic import StopAtStepHook
from torchestimator.hooks.session_run import (
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
)

__all__ = ["make_stop_at_checkpoint_step_hook"]


class _StopAtCheckpointStepHook(SessionRunHook):
    def __init__(self, model_dir: str, last_step: int, wait_after_file_check_secs: float = 30) -> None:
        self._model_dir = model_dir
        self._last_step = last_step
        self._wait_after_file_check_secs = wait_after_file_check_secs

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return SessionRunArgs("global_step")

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        global_step = int(run_values.results) + 1
        if global_step >= self._last_step:
            steps = ckpt_lib.list_checkpoints(self._model_dir)
            step = steps[-1] if steps else 0
            if step >= self._last_step:
                run_context.request_stop()
            else:
                time.sleep(self._wait_after_file_check_secs)


def make_stop_at_checkpoint_step_hook(
    estimator: Any, last_step: int, wait_after_file_check_secs: float = 30
) -> Any:
    """A hook stopping at ``last_step``: directly on the chief, after the chief's checkpoint elsewhere."""
    if estimator.config.is_chief:
        return StopAtStepHook(last_step=last_step)
    return _StopAtCheckpointStepHook(estimator.model_dir, last_step, wait_after_file_check_secs)
