"""Built-in hooks: stop at a step, NaN guard, logging, summaries, progress bar, in-training eval."""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from torchestimator import summary
from torchestimator.batch_checks import describe_non_finite
from torchestimator.errors import InvalidArgumentError, NanLossDuringTrainingError
from torchestimator.hooks.base import Hook, RunContext
from torchestimator.hooks.timer import SecondOrStepTimer

__all__ = [
    "InMemoryEvaluatorHook",
    "LoggingHook",
    "NanTensorHook",
    "ProgressBarHook",
    "StopAtStepHook",
    "SummarySaverHook",
]

logger = logging.getLogger("torchestimator")


class StopAtStepHook(Hook):
    """Stop after ``num_steps`` more steps, or at the absolute ``last_step`` (exactly one of them)."""

    def __init__(self, num_steps: int | None = None, last_step: int | None = None) -> None:
        if (num_steps is None) == (last_step is None):
            raise InvalidArgumentError(
                f"StopAtStepHook needs exactly one of num_steps / last_step; received num_steps={num_steps}, "
                f"last_step={last_step}."
            )
        self.num_steps = num_steps
        self.last_step = last_step

    def begin(self, ctx: RunContext) -> None:
        if self.num_steps is not None:
            self.last_step = ctx.global_step + self.num_steps
        if self.last_step is not None and ctx.global_step >= self.last_step:
            ctx.request_stop()

    def after_step(self, ctx: RunContext) -> None:
        if self.last_step is not None and ctx.global_step >= self.last_step:
            ctx.request_stop()


class NanTensorHook(Hook):
    """Fail (``NanLossDuringTrainingError``) or stop when the loss becomes NaN or infinite.

    On CPU the loss is read every step (it costs about a microsecond). On an accelerator the check is
    kept on the device: each step folds ``isfinite(loss)`` into a flag that records the first bad
    step, read back every ``every_n_steps`` (default 100, so the step never waits for the device).
    The flag is always read before a checkpoint is written, so a NaN model is never saved.

    Args:
        fail_on_nan_loss: raise (default, as TF) or just request a stop.
        every_n_steps: how often to read the flag back; ``None`` picks per device.

    TF's ``NanTensorHook(loss_tensor, fail_on_nan_loss=True)`` ports unchanged: a tensor (or name) first is
    taken as TF's ``loss_tensor`` (the step's loss is what is checked) and the second argument as
    ``fail_on_nan_loss``.
    """

    def __init__(self, fail_on_nan_loss: Any = True, every_n_steps: Any = None) -> None:
        if isinstance(
            fail_on_nan_loss, (torch.Tensor, str)
        ):  # TF's NanTensorHook(loss_tensor, fail_on_nan_loss)
            fail_on_nan_loss, every_n_steps = (True if every_n_steps is None else bool(every_n_steps)), None
        self.fail_on_nan_loss = bool(fail_on_nan_loss)
        self.every_n_steps = every_n_steps
        self._first_bad: torch.Tensor | None = None
        self._every = 1

    def begin(self, ctx: RunContext) -> None:
        self._first_bad = None

    def after_step(self, ctx: RunContext) -> None:
        if ctx.loss is None:
            return
        loss = ctx.loss.detach()
        if loss.device.type == "cpu":  # reading a CPU scalar costs ~1 us: check every step, as TF does
            if not math.isfinite(float(loss)):  # the spec guarantees a one-element loss
                self._first_bad = torch.tensor(ctx.global_step)
                self._check(ctx)
            return
        if self._first_bad is None:
            self._first_bad = torch.full((), -1, dtype=torch.int64, device=loss.device)
            self._every = self.every_n_steps or 100
        bad = ~torch.isfinite(loss).all()
        self._first_bad = torch.where(
            bad & (self._first_bad < 0), torch.full_like(self._first_bad, ctx.global_step), self._first_bad
        )
        if ctx.global_step % self._every == 0:
            self._check(ctx)

    def before_save(self, ctx: RunContext) -> None:
        self._check(ctx)

    def end(self, ctx: RunContext) -> None:
        self._check(ctx)

    def _check(self, ctx: RunContext) -> None:
        if self._first_bad is None:
            return
        step = int(self._first_bad)
        if step < 0:
            return
        if self.fail_on_nan_loss:
            # the batch is still at hand only when the bad step is the current one (always on CPU)
            cause = describe_non_finite(ctx.features, ctx.labels) if step == ctx.global_step else None
            raise NanLossDuringTrainingError(
                step=step, loss=float(ctx.loss) if ctx.loss is not None else None, cause=cause
            )
        logger.error("NaN loss during training at step %d; stopping without saving the NaN model.", step)
        ctx.request_stop()
        ctx.veto_save()


class LoggingHook(Hook):
    """TF's training log lines and the ``global_step/sec`` summary, at TF's steps.

    ``loss = X, step = N (T sec)`` on the first step of the call and every ``every_n_steps`` steps after it,
    where N is the global step *before* that step, as TF's ``LoggingTensorHook`` prints it (0, 100, 200, ...);
    ``global_step/sec: R`` (and its summary, when given a writer) as TF's ``StepCounterHook``: at global steps
    101, 201, ... for ``every_n_steps=100`` (the first trigger at step 1 only starts the clock).
    """

    def __init__(
        self, every_n_steps: int, writer: Any = None, log: Callable[[str], None] | None = None
    ) -> None:
        self.every_n_steps = every_n_steps
        self.writer = writer
        self.log = log or logger.info
        self._timer = SecondOrStepTimer(every_steps=every_n_steps)
        self._iter = 0
        self._t_log = 0.0

    def begin(self, ctx: RunContext) -> None:
        self._timer.reset()
        self._iter = 0
        self._t_log = time.perf_counter()

    def after_step(self, ctx: RunContext) -> None:
        if self._iter % self.every_n_steps == 0:
            now = time.perf_counter()
            loss = float(ctx.loss) if ctx.loss is not None else math.nan
            took = f" ({now - self._t_log:.3f} sec)" if self._iter else ""
            self.log(f"loss = {loss:.7g}, step = {ctx.global_step - 1}{took}")
            self._t_log = now
        self._iter += 1
        if self._timer.should_trigger_for_step(ctx.global_step):
            secs, steps = self._timer.update_last_triggered_step(ctx.global_step)
            if secs is not None and steps:
                rate = steps / secs if secs > 0 else math.inf
                self.log(f"global_step/sec: {rate:.5g}")
                if self.writer is not None:
                    self.writer.scalar("global_step/sec", rate, ctx.global_step)


class SummarySaverHook(Hook):
    """Writes ``loss`` and what the model recorded (:mod:`torchestimator.summary`) at TF's summary steps.

    A step is recorded when TF's ``SecondOrStepTimer`` says so: the first step of the call, then every
    ``save_steps`` steps after the last recorded one (global steps 1, 101, 201, ... for 100). Model code calls
    ``te.summary.scalar`` / ``histogram`` as it runs; only recorded steps keep the values. TF's keyword
    arguments work (``save_secs``, ``output_dir``, ``summary_writer``, ``summary_op``).
    """

    def __init__(
        self,
        save_steps: int | None = None,
        writer: Any = None,
        *,
        save_secs: float | None = None,
        output_dir: str | None = None,
        summary_writer: Any = None,
        scaffold: Any = None,
        summary_op: Any = None,
    ) -> None:
        if scaffold is not None:
            raise InvalidArgumentError("SummarySaverHook: scaffold has no torch equivalent; leave it None.")
        self.save_steps = save_steps
        self.writer = writer if writer is not None else summary_writer
        self._output_dir = output_dir
        self._timer = SecondOrStepTimer(every_steps=save_steps, every_secs=save_secs)
        self._recording: summary.Recording | None = None
        # TF's summary_op (e.g. merge_all()): every te.summary value the model records in the step is written

    def begin(self, ctx: RunContext) -> None:
        if self.writer is None:  # TF's output_dir, else the Estimator's model_dir (its train summaries)
            self.writer = ctx.estimator.runtime.writer(self._output_dir or ctx.estimator.model_dir)
        self._timer.reset()

    def before_step(self, ctx: RunContext) -> None:
        if self._timer.should_trigger_for_step(ctx.global_step + 1):
            self._recording = summary.start_recording()

    def after_step(self, ctx: RunContext) -> None:
        if self._recording is None:
            return
        recorded, self._recording = self._recording, None
        summary.stop_recording()
        step = ctx.global_step
        self._timer.update_last_triggered_step(step)
        if ctx.loss is not None:
            self.writer.scalar("loss", float(ctx.loss), step)
        for tag, value in recorded.scalars.items():
            self.writer.scalar(tag, float(value), step)
        for tag, values in recorded.histograms.items():
            self.writer.histogram(tag, values.float().cpu().numpy(), step)

    def end(self, ctx: RunContext) -> None:
        if self._recording is not None:  # a step that raised: stop collecting
            summary.stop_recording()
            self._recording = None
        self.writer.flush()


class HParamsHook(Hook):
    """Writes the run's hyperparameters (TensorBoard's HParams dashboard) once, when training begins.

    The hyperparameters are ``RunConfig``'s scalar fields (``config.<name>``), the Estimator's scalar ``params``
    (``params.<name>``) and the model class; the dashboard shows them beside the ``loss`` curve.
    """

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def begin(self, ctx: RunContext) -> None:
        est = ctx.estimator
        values: dict[str, Any] = {"model": type(est.model).__name__}
        for field in dataclasses.fields(est.config):
            value = getattr(est.config, field.name)
            if field.init and isinstance(value, (bool, int, float, str)):
                values[f"config.{field.name}"] = value
        values.update(
            {f"params.{k}": v for k, v in est.params.items() if isinstance(v, (bool, int, float, str))}
        )
        self.writer.hparams(values, metrics=["loss"])  # the writer records them once per event file


class ProgressBarHook(Hook):
    """A ``tqdm.auto`` progress bar (a widget in notebooks, text in terminals), redrawn every ``every_n_steps``.

    TRAIN counts global steps towards ``total`` (the call's last step); EVAL and PREDICT count batches towards
    ``total`` (``steps``), with no total when the input runs to its end.
    """

    def __init__(self, total: int | None = None, every_n_steps: int = 10) -> None:
        self.total = total
        self.every_n_steps = every_n_steps
        self._bar: Any = None
        self._last = 0
        self._done = 0

    def _position(self, ctx: RunContext) -> int:
        return ctx.global_step if ctx.mode == "train" else self._done

    def begin(self, ctx: RunContext) -> None:
        from tqdm.auto import tqdm

        self._done = 0
        self._last = self._position(ctx)
        total = None if self.total is None else max(self.total - self._last, 0)
        unit = "step" if ctx.mode == "train" else "batch"
        self._bar = tqdm(total=total, desc=ctx.mode, unit=unit, file=sys.stderr, dynamic_ncols=True)

    def after_step(self, ctx: RunContext) -> None:
        self._done += 1
        position = self._position(ctx)
        if self._bar is not None and position - self._last >= self.every_n_steps:
            self._bar.update(position - self._last)
            self._last = position
            if ctx.loss is not None:
                self._bar.set_postfix(loss=f"{float(ctx.loss):.4g}", refresh=False)

    def end(self, ctx: RunContext) -> None:
        if self._bar is not None:
            self._bar.update(self._position(ctx) - self._last)
            self._bar.close()
            self._bar = None


class InMemoryEvaluatorHook(Hook):
    """Evaluate the live model every ``every_n_iter`` steps and at the end, without a checkpoint.

    Results are written to ``eval_dir(name)`` like ``Estimator.evaluate``, so early-stopping hooks
    placed after this one in ``hooks`` see them at the same step.
    """

    def __init__(
        self,
        estimator: Any,
        input_fn: Callable[..., Any],
        steps: int | None = None,
        hooks: Sequence[Hook] | None = None,
        name: str | None = None,
        every_n_iter: int = 100,
    ) -> None:
        if every_n_iter <= 0:
            raise InvalidArgumentError(f"every_n_iter must be > 0; received {every_n_iter}.")
        self.estimator = estimator
        self.input_fn = input_fn
        self.steps = steps
        self.hooks = hooks
        self.name = name
        self.every_n_iter = every_n_iter
        self.results: dict[int, dict[str, Any]] = {}
        self._last_eval_step = -1

    def _evaluate(self, step: int) -> None:
        from torchestimator.estimator._evaluation import run_evaluation

        self.results[step] = run_evaluation(
            self.estimator.runtime, self.input_fn, self.steps, list(self.hooks or ()), self.name, None
        )
        self._last_eval_step = step

    def after_step(self, ctx: RunContext) -> None:
        if ctx.global_step % self.every_n_iter == 0:
            self._evaluate(ctx.global_step)

    def end(self, ctx: RunContext) -> None:
        if self._last_eval_step != ctx.global_step:
            self._evaluate(ctx.global_step)
