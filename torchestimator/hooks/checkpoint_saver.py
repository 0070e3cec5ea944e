"""TF's ``CheckpointSaverHook``: saves on its own cadence and, as in TF, replaces the Estimator's saver."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from torchestimator import checkpoint as ckpt_lib
from torchestimator.errors import InvalidArgumentError
from torchestimator.hooks.session_run import (
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunHookAdapter,
    SessionRunValues,
    StepSession,
    as_saving_listeners,
)
from torchestimator.hooks.timer import SecondOrStepTimer

__all__ = ["CheckpointSaverHook", "find_checkpoint_saver"]

logger = logging.getLogger("torchestimator")


class CheckpointSaverHook(SessionRunHook):
    """Saves checkpoints every ``save_steps`` steps or ``save_secs`` seconds (TF's CheckpointSaverHook).

    It saves the starting step (when not saved yet), every due step and the last step, on the chief. Into the
    Estimator's ``model_dir`` it writes through the Estimator (same files and retention as its own saves);
    into another ``checkpoint_dir`` it writes the model and optimizer state in the same format. As in TF, a
    CheckpointSaverHook among ``train``'s hooks replaces the Estimator's own saver (its ``RunConfig`` cadence),
    and ``train``'s ``saving_listeners`` are attached to it.

    Args:
        checkpoint_dir: where to write.
        save_secs: save every N seconds (exactly one of this and ``save_steps``).
        save_steps: save every N steps.
        saver: accepted for TF compatibility; must be None.
        checkpoint_basename: must be ``'model.ckpt'`` (the only layout written).
        scaffold: accepted for TF compatibility; must be None.
        listeners: :class:`CheckpointSaverListener` s (TF's ``(session, step)`` signatures work too).
        save_graph_def: accepted; there is no graph to write.
    """

    def __init__(
        self,
        checkpoint_dir: str,
        save_secs: float | None = None,
        save_steps: int | None = None,
        saver: Any = None,
        checkpoint_basename: str = "model.ckpt",
        scaffold: Any = None,
        listeners: Sequence[Any] | None = None,
        save_graph_def: bool = True,
    ) -> None:
        if saver is not None or scaffold is not None:
            raise InvalidArgumentError(
                "CheckpointSaverHook: saver / scaffold have no torch equivalent; leave them None (the Estimator's "
                "model and optimizers are saved)."
            )
        if checkpoint_basename != "model.ckpt":
            raise InvalidArgumentError(
                f"CheckpointSaverHook writes 'model.ckpt-<step>' checkpoints; received checkpoint_basename="
                f"{checkpoint_basename!r}."
            )
        self._checkpoint_dir = os.fspath(checkpoint_dir)
        self._timer = SecondOrStepTimer(every_secs=save_secs, every_steps=save_steps)
        self._listeners = as_saving_listeners(listeners)
        self.saved_steps: list[int] = []

    def add_listeners(self, listeners: Sequence[Any]) -> None:
        """Attach more saving listeners (the Estimator hands its ``saving_listeners`` over, as TF does)."""
        self._listeners = [*self._listeners, *as_saving_listeners(listeners)]

    def begin(self) -> None:
        self._timer.reset()
        for listener in self._listeners:
            listener.begin()

    def after_create_session(self, session: StepSession, coord: Any) -> None:
        global_step = int(session.run("global_step"))
        self._save(session, global_step)
        self._timer.update_last_triggered_step(global_step)

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return SessionRunArgs("global_step")

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        stale_global_step = int(run_values.results)
        if self._timer.should_trigger_for_step(stale_global_step + 1):
            global_step = int(run_context.session.run("global_step"))
            if self._timer.should_trigger_for_step(global_step):
                self._timer.update_last_triggered_step(global_step)
                if self._save(run_context.session, global_step):
                    run_context.request_stop()

    def end(self, session: StepSession) -> None:
        last_step = int(session.run("global_step"))
        if last_step != self._timer.last_triggered_step():
            self._save(session, last_step)
        for listener in self._listeners:
            listener.end(last_step)

    def _save(self, session: StepSession, step: int) -> bool:
        est = session.estimator
        if not est.runtime.is_chief:  # under DDP every rank holds the same model: the chief writes
            return False
        for listener in self._listeners:
            listener.before_save(step)
        logger.info("Saving checkpoints for %d into %s.", step, self._checkpoint_dir)
        same_dir = os.path.abspath(self._checkpoint_dir) == os.path.abspath(est.model_dir)
        if same_dir:
            if not est.runtime.has_checkpoint_at(step):
                est.runtime.save(None)
        else:
            opt_states = {name: opt.state_dict() for name, opt in est.runtime.optimizers.items()}
            ckpt_lib.save_checkpoint(
                self._checkpoint_dir,
                step,
                est.runtime.module.state_dict(),
                opt_states,
                keep_checkpoint_max=est.config.keep_checkpoint_max,
            )
        self.saved_steps.append(step)
        return any([bool(listener.after_save(step)) for listener in self._listeners])


def find_checkpoint_saver(hooks: Sequence[Any]) -> CheckpointSaverHook | None:
    """The first :class:`CheckpointSaverHook` among the loop's hooks (TF: one replaces the Estimator's saver)."""
    for hook in hooks:
        inner = hook.hook if isinstance(hook, SessionRunHookAdapter) else hook
        if isinstance(inner, CheckpointSaverHook):
            return inner
    return None
