"""Early stopping from eval results (tf.estimator.experimental.stop_if_* and make_early_stopping_hook).

The hooks read the eval event files in ``estimator.eval_dir()`` (or ``eval_dir``), which something
must be writing: ``train_and_evaluate``, an :class:`InMemoryEvaluatorHook` placed before the
early-stopping hook in ``hooks``, or a separate evaluator process. The predicate runs every
``run_every_secs`` seconds or every ``run_every_steps`` steps; under distribution the chief's
decision reaches every rank through the loop's stop agreement.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable
from typing import Any

from torchestimator.errors import InvalidArgumentError
from torchestimator.hooks.base import Hook, RunContext
from torchestimator.summaries import read_eval_results

__all__ = [
    "make_early_stopping_hook",
    "stop_if_higher_hook",
    "stop_if_lower_hook",
    "stop_if_no_decrease_hook",
    "stop_if_no_increase_hook",
]


class _EarlyStoppingHook(Hook):
    def __init__(
        self, should_stop_fn: Callable[[], bool], run_every_secs: float | None, run_every_steps: int | None
    ) -> None:
        if (run_every_secs is None) == (run_every_steps is None):
            raise InvalidArgumentError(
                "exactly one of run_every_secs and run_every_steps must be set; received "
                f"run_every_secs={run_every_secs}, run_every_steps={run_every_steps}."
            )
        self.should_stop_fn = should_stop_fn
        self.run_every_secs = run_every_secs
        self.run_every_steps = run_every_steps
        self._last_time = 0.0
        self._last_step = 0

    def begin(self, ctx: RunContext) -> None:
        self._last_time, self._last_step = time.monotonic(), ctx.global_step

    def after_step(self, ctx: RunContext) -> None:
        if self.run_every_steps is not None:
            due = ctx.global_step - self._last_step >= self.run_every_steps
        else:
            due = time.monotonic() - self._last_time >= float(self.run_every_secs or 0)
        if not due:
            return
        self._last_time, self._last_step = time.monotonic(), ctx.global_step
        if self.should_stop_fn():
            ctx.request_stop()


def make_early_stopping_hook(
    estimator: Any,
    should_stop_fn: Callable[[], bool],
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> Hook:
    """A hook that stops training when ``should_stop_fn()`` returns True (checked on a timer or step cadence)."""
    if run_every_steps is not None:
        run_every_secs = None
    return _EarlyStoppingHook(should_stop_fn, run_every_secs, run_every_steps)


def _eval_results(estimator: Any, eval_dir: str | None) -> dict[int, dict[str, float]]:
    return read_eval_results(eval_dir or estimator.eval_dir())


def _threshold_hook(
    estimator: Any,
    metric_name: str,
    threshold: float,
    cmp: Callable[[float, float], bool],
    eval_dir: str | None,
    min_steps: int,
    run_every_secs: float | None,
    run_every_steps: int | None,
) -> Hook:
    def should_stop() -> bool:
        for step, metrics in _eval_results(estimator, eval_dir).items():
            if step < min_steps:
                continue
            if metric_name not in metrics:
                raise InvalidArgumentError(
                    f"metric {metric_name!r} not found in eval results at step {step}; available: {sorted(metrics)}."
                )
            if cmp(metrics[metric_name], threshold):
                return True
        return False

    return make_early_stopping_hook(estimator, should_stop, run_every_secs, run_every_steps)


def _no_improvement_hook(
    estimator: Any,
    metric_name: str,
    max_steps_without_improvement: int,
    better: Callable[[float, float], bool],
    eval_dir: str | None,
    min_steps: int,
    run_every_secs: float | None,
    run_every_steps: int | None,
) -> Hook:
    def should_stop() -> bool:
        best_val: float | None = None
        best_step = 0
        for step, metrics in _eval_results(estimator, eval_dir).items():
            if step < min_steps:
                continue
            if metric_name not in metrics:
                raise InvalidArgumentError(
                    f"metric {metric_name!r} not found in eval results at step {step}; available: {sorted(metrics)}."
                )
            val = metrics[metric_name]
            if best_val is None or better(val, best_val):
                best_val, best_step = val, step
            if step - best_step >= max_steps_without_improvement:
                return True
        return False

    return make_early_stopping_hook(estimator, should_stop, run_every_secs, run_every_steps)


def stop_if_higher_hook(
    estimator: Any,
    metric_name: str,
    threshold: float,
    eval_dir: str | None = None,
    min_steps: int = 0,
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> Hook:
    """Stop once ``metric_name`` is higher than ``threshold`` in some evaluation at step ≥ ``min_steps``."""
    return _threshold_hook(
        estimator, metric_name, threshold, operator.gt, eval_dir, min_steps, run_every_secs, run_every_steps
    )


def stop_if_lower_hook(
    estimator: Any,
    metric_name: str,
    threshold: float,
    eval_dir: str | None = None,
    min_steps: int = 0,
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> Hook:
    """Stop once ``metric_name`` is lower than ``threshold``."""
    return _threshold_hook(
        estimator, metric_name, threshold, operator.lt, eval_dir, min_steps, run_every_secs, run_every_steps
    )


def stop_if_no_increase_hook(
    estimator: Any,
    metric_name: str,
    max_steps_without_increase: int,
    eval_dir: str | None = None,
    min_steps: int = 0,
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> Hook:
    """Stop when ``metric_name`` has not increased for ``max_steps_without_increase`` steps."""
    return _no_improvement_hook(
        estimator,
        metric_name,
        max_steps_without_increase,
        operator.gt,
        eval_dir,
        min_steps,
        run_every_secs,
        run_every_steps,
    )


def stop_if_no_decrease_hook(
    estimator: Any,
    metric_name: str,
    max_steps_without_decrease: int,
    eval_dir: str | None = None,
    min_steps: int = 0,
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> Hook:
    """Stop when ``metric_name`` has not decreased for ``max_steps_without_decrease`` steps."""
    return _no_improvement_hook(
        estimator,
        metric_name,
        max_steps_without_decrease,
        operator.lt,
        eval_dir,
        min_steps,
        run_every_secs,
        run_every_steps,
    )
