"""TF's basic session-run hooks (``tf.estimator.LoggingTensorHook`` ...), with TF 2.15's firing rules.

Each one is the TF hook's logic over :mod:`torchestimator.hooks.session_run`; fetches are names (see there).

==========================  ==================================================================================
hook                        fires (``SecondOrStepTimer``: first time seen, then every N steps / secs after it)
==========================  ==================================================================================
``LoggingTensorHook``       iterations 0, N, 2N, ... of this call (counted from 0), and at the end with
                            ``at_end``: logs ``tag = value, ...`` (``(x.xxx sec)`` after the first); the
                            end line has the last step's values (TF runs batch tensors once more)
``StepCounterHook``         global steps 1 (starts the clock), N+1, 2N+1, ...: ``global_step/sec``
``CheckpointSaverHook``     the starting step, then global steps where ``step >= last + N``, and the end
``FinalOpsHook``            at the end: ``final_ops_values``
``GlobalStepWaiterHook``    before the first step: waits until ``model_dir``'s newest checkpoint reaches N
``FeedFnHook``              every step: ``feed_fn()`` replaces those features
==========================  ==================================================================================
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from torchestimator import checkpoint as ckpt_lib
from torchestimator.errors import InvalidArgumentError
from torchestimator.hooks.session_run import (
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
    StepSession,
)
from torchestimator.hooks.timer import SecondOrStepTimer

__all__ = [
    "FeedFnHook",
    "FinalOpsHook",
    "GlobalStepWaiterHook",
    "LoggingTensorHook",
    "StepCounterHook",
]

logger = logging.getLogger("torchestimator")


class _NeverTriggerTimer(SecondOrStepTimer):
    def __init__(self) -> None:
        super().__init__(every_steps=0)

    def should_trigger_for_step(self, step: int) -> bool:
        return False


class LoggingTensorHook(SessionRunHook):
    """Logs the named values every ``every_n_iter`` iterations / ``every_n_secs`` seconds and/or at the end.

    Args:
        tensors: ``{tag: name}`` (logged in sorted tag order) or a list of names (in that order).
        every_n_iter: log every N iterations of this call (0, N, 2N, ...).
        every_n_secs: log every N seconds instead.
        at_end: also log the last step's values when the call ends.
        formatter: ``dict -> str`` replacing the default ``tag = value, ...`` line.

    Raises:
        InvalidArgumentError: neither ``at_end`` nor exactly one of the cadences, or ``every_n_iter <= 0``.
    """

    def __init__(
        self,
        tensors: Mapping[str, Any] | Sequence[Any],
        every_n_iter: int | None = None,
        every_n_secs: float | None = None,
        at_end: bool = False,
        formatter: Callable[[dict[str, Any]], str] | None = None,
    ) -> None:
        only_log_at_end = at_end and every_n_iter is None and every_n_secs is None
        if not only_log_at_end and (every_n_iter is None) == (every_n_secs is None):
            raise InvalidArgumentError(
                "either at_end and/or exactly one of every_n_iter and every_n_secs must be provided; received "
                f"every_n_iter={every_n_iter}, every_n_secs={every_n_secs}, at_end={at_end}."
            )
        if every_n_iter is not None and every_n_iter <= 0:
            raise InvalidArgumentError(f"invalid every_n_iter={every_n_iter}; it must be > 0.")
        if isinstance(tensors, Mapping):
            self._tag_order = sorted(tensors)
            self._tensors = dict(tensors)
        else:
            self._tag_order = [t if isinstance(t, str) else f"tensor_{i}" for i, t in enumerate(tensors)]
            self._tensors = dict(zip(self._tag_order, tensors))
        self._timer: SecondOrStepTimer = (
            _NeverTriggerTimer()
            if only_log_at_end
            else SecondOrStepTimer(every_secs=every_n_secs, every_steps=every_n_iter)
        )
        self._log_at_end = at_end
        self._formatter = formatter
        self._iter_count = 0
        self._should_trigger = False
        self._last_values: dict[str, Any] | None = None
        self.logged: list[
            tuple[int, dict[str, Any]]
        ] = []  # (iteration, values) of every line, for inspection

    def begin(self) -> None:
        self._timer.reset()
        self._iter_count = 0
        self._last_values = None

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        self._should_trigger = self._timer.should_trigger_for_step(self._iter_count)
        if self._should_trigger or self._log_at_end:  # at_end logs the last step's values
            return SessionRunArgs(self._tensors)
        return None

    def _log_tensors(self, values: dict[str, Any]) -> None:
        original = np.get_printoptions()
        np.set_printoptions(suppress=True)
        try:
            elapsed_secs, _ = self._timer.update_last_triggered_step(self._iter_count)
            self.logged.append((self._iter_count, values))
            if self._formatter:
                logger.info(self._formatter(values))
                return
            line = ", ".join(f"{tag} = {values[tag]}" for tag in self._tag_order)
            if elapsed_secs is not None:
                logger.info("%s (%.3f sec)", line, elapsed_secs)
            else:
                logger.info("%s", line)
        finally:
            np.set_printoptions(**original)

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        if run_values.results is not None:
            self._last_values = run_values.results
        if self._should_trigger:
            self._log_tensors(run_values.results)
        self._iter_count += 1

    def end(self, session: StepSession) -> None:
        if not self._log_at_end or self._last_values is None:
            return
        try:  # as TF, the values now (global_step after the last step); the last step's where TF would
            values = session.run(self._tensors)  # read the next batch (features, predictions)
        except InvalidArgumentError:  # a summary tag: only recorded during its step
            values = self._last_values
        self._log_tensors(values)


def _writer_for(session: StepSession, output_dir: str | None) -> Any:
    if output_dir is None:
        return None
    return session.estimator.runtime.writer(os.fspath(output_dir))


class StepCounterHook(SessionRunHook):
    """Logs and records ``global_step/sec`` (TF's StepCounterHook).

    Args:
        every_n_steps: record every N global steps (exactly one of this and ``every_n_secs``).
        every_n_secs: record every N seconds.
        output_dir: write the ``global_step/sec`` summary there.
        summary_writer: a writer with ``scalar(tag, value, step)`` instead of ``output_dir``.
    """

    def __init__(
        self,
        every_n_steps: int | None = 100,
        every_n_secs: float | None = None,
        output_dir: str | None = None,
        summary_writer: Any = None,
    ) -> None:
        if (every_n_steps is None) == (every_n_secs is None):
            raise InvalidArgumentError(
                "exactly one of every_n_steps and every_n_secs should be provided; received "
                f"every_n_steps={every_n_steps}, every_n_secs={every_n_secs}."
            )
        self._timer = SecondOrStepTimer(every_steps=every_n_steps, every_secs=every_n_secs)
        self._summary_writer = summary_writer
        self._output_dir = output_dir
        self.recorded: list[tuple[int, float]] = []  # (global_step, steps/sec), for inspection

    def after_create_session(self, session: StepSession, coord: Any) -> None:
        self._timer.reset()
        if self._summary_writer is None:
            self._summary_writer = _writer_for(session, self._output_dir)

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return SessionRunArgs("global_step")

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        stale_global_step = int(run_values.results)
        if self._timer.should_trigger_for_step(stale_global_step + 1):
            global_step = int(run_context.session.run("global_step"))
            if self._timer.should_trigger_for_step(global_step):
                elapsed_time, elapsed_steps = self._timer.update_last_triggered_step(global_step)
                if elapsed_time is not None and elapsed_steps:
                    rate = elapsed_steps / elapsed_time if elapsed_time > 0 else float("inf")
                    self.recorded.append((global_step, rate))
                    if self._summary_writer is not None:
                        self._summary_writer.scalar("global_step/sec", rate, global_step)
                    logger.info("%s: %g", "global_step/sec", rate)


class FinalOpsHook(SessionRunHook):
    """Evaluates ``final_ops`` when the call ends; read them from :attr:`final_ops_values`.

    Args:
        final_ops: a name (see :mod:`~torchestimator.hooks.session_run`), a zero-argument callable, or a
            list / dict of them; names read the last step's values.
        final_ops_feed_dict: must be None (nothing to feed after the last step).
    """

    def __init__(self, final_ops: Any, final_ops_feed_dict: Any = None) -> None:
        if final_ops_feed_dict is not None:
            raise InvalidArgumentError("FinalOpsHook: final_ops_feed_dict is not supported; leave it None.")
        self._final_ops = final_ops
        self._final_ops_values: Any = None

    @property
    def final_ops_values(self) -> Any:
        return self._final_ops_values

    def _evaluate(self, ops: Any, session: StepSession) -> Any:
        if callable(ops):
            return ops()
        if isinstance(ops, Mapping):
            return {k: self._evaluate(v, session) for k, v in ops.items()}
        if isinstance(ops, (list, tuple)):
            return type(ops)(self._evaluate(v, session) for v in ops)
        return session.run(ops)

    def end(self, session: StepSession) -> None:
        if self._final_ops is not None:
            self._final_ops_values = self._evaluate(self._final_ops, session)


class GlobalStepWaiterHook(SessionRunHook):
    """Delays training until ``model_dir``'s newest checkpoint reaches ``wait_until_step`` (TF's waiter).

    TF's non-chief workers wait for the shared global step; here another process (the chief) writes
    checkpoints to the same ``model_dir``. Polls every ``poll_secs`` (TF: 0.5 s).
    """

    def __init__(self, wait_until_step: int, poll_secs: float = 0.5) -> None:
        self._wait_until_step = int(wait_until_step)
        self._poll_secs = poll_secs
        self._worker_is_started = False

    def begin(self) -> None:
        self._worker_is_started = False

    def _current_step(self, session: StepSession) -> int:
        steps = ckpt_lib.list_checkpoints(session.estimator.model_dir)
        return max([session.estimator.global_step, *steps])

    def before_run(self, run_context: SessionRunContext) -> None:
        if self._worker_is_started:
            return None
        if self._wait_until_step <= 0:
            self._worker_is_started = True
            return None
        logger.info("Waiting for global step %d before starting training.", self._wait_until_step)
        last_logged_step = 0
        while True:
            current_step = self._current_step(run_context.session)
            if current_step >= self._wait_until_step:
                self._worker_is_started = True
                return None
            if current_step - last_logged_step > 1000:
                logger.info(
                    "Waiting for global step %d before starting training. Current step is %d.",
                    self._wait_until_step,
                    current_step,
                )
                last_logged_step = current_step
            time.sleep(self._poll_secs)


class FeedFnHook(SessionRunHook):
    """Every step, ``feed_fn()`` returns ``{feature_key: value}`` that replaces those features (TF's FeedFnHook)."""

    def __init__(self, feed_fn: Callable[[], Mapping[str, Any]]) -> None:
        self.feed_fn = feed_fn

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return SessionRunArgs(fetches=None, feed_dict=self.feed_fn())
