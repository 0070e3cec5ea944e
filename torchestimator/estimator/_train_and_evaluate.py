"""``TrainSpec``, ``EvalSpec`` and ``train_and_evaluate`` (tf.estimator's ``training.py``).

What ``train_and_evaluate`` does depends on the process's role (``RunConfig.task_type``, from ``TF_CONFIG``):

================================  ===================================================================
no cluster (local; also a plain   one ``train(max_steps)`` call. After each checkpoint (not the one
torchrun DDP launch)              written before any step) it evaluates if ``throttle_secs`` have
                                  passed since the last evaluation, then runs the exporters; one more
                                  evaluation + export at the end if the last step was not evaluated.
                                  ``EvalSpec(every_n_steps=N)`` evaluates every N steps instead.
                                  Returns ``(eval_metrics, export_results)`` of the last evaluation.
``chief`` / ``worker``            train (DDP ranks; the chief writes checkpoints); returns ``(None, None)``
``master`` (legacy cluster)       trains and evaluates as in local mode (every rank evaluates its shard)
``evaluator``                     sleeps ``start_delay_secs``, then evaluates each new checkpoint of
                                  ``model_dir`` (an unchanged one is skipped), runs the exporters, sleeps
                                  the rest of ``throttle_secs``; stops after evaluating a checkpoint with
                                  ``global_step >= max_steps`` (that export is ``is_the_final_export``)
``ps``                            nothing to do under DDP; returns ``(None, None)`` with a log line
================================  ===================================================================

Under DDP every rank evaluates its own shard of the eval input and the metrics are reduced once;
only the chief writes eval summaries and runs exporters. Exporters are any objects with a ``name`` and
``export(estimator, export_path, checkpoint_path, eval_result, is_the_final_export)``; ``export_path``
is ``model_dir/export/<name>``.

Example:
    >>> import tempfile, torch
    >>> from torchestimator import Estimator, EstimatorSpec, ModeKeys, RunConfig
    >>> class Mean(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = torch.nn.Parameter(torch.zeros(1))
    ...         self.opt = torch.optim.SGD(self.parameters(), lr=0.5)
    ...     def forward(self, features, labels=None, mode=ModeKeys.TRAIN):
    ...         loss = ((self.w - labels) ** 2).mean()
    ...         return EstimatorSpec(mode, loss=loss, train_op=self.opt)
    >>> est = Estimator(Mean, tempfile.mkdtemp(), RunConfig(save_checkpoints_steps=5, log_step_count_steps=None))
    >>> data = lambda: ({"x": torch.zeros(4, 1)}, torch.ones(4))
    >>> metrics, exports = train_and_evaluate(
    ...     est, TrainSpec(data, max_steps=10), EvalSpec(data, steps=1, throttle_secs=0))
    >>> metrics["global_step"], exports
    (10, [])
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from torchestimator.errors import CheckpointError, InvalidArgumentError
from torchestimator.estimator._evaluation import run_evaluation
from torchestimator.estimator._multi_eval import MultiEvaluation, as_eval_specs
from torchestimator.estimator._specs import EvalSpec, TrainSpec
from torchestimator.hooks.base import CheckpointSaverListener, Hook, RunContext

if TYPE_CHECKING:
    from torchestimator.estimator._estimator import Estimator
    from torchestimator.estimator._runtime import Runtime

__all__ = ["EvalSpec", "TrainSpec", "train_and_evaluate"]

logger = logging.getLogger("torchestimator")

_NO_CHECKPOINT_LOG_SECS = 600  # "no new checkpoint" is logged at most this often (as TF)


class _Evaluation:
    """Evaluates, then runs the exporters on the chief; remembers the last result."""

    def __init__(self, est: Estimator, eval_spec: EvalSpec, max_steps: int | None) -> None:
        self.est, self.spec, self.max_steps = est, eval_spec, max_steps
        self.metrics: dict[str, Any] | None = None
        self.export_results: list[Any] | None = None
        self.last_step: int | None = None
        self.last_time: float | None = None

    def run(self, checkpoint_path: str | None, *, live: bool) -> None:
        """Evaluate (the live module, or ``checkpoint_path``) and export."""
        est, spec = self.est, self.spec
        if live:
            metrics = run_evaluation(
                est.runtime, spec.input_fn, spec.steps, list(spec.hooks), spec.name, checkpoint_path
            )
        else:
            metrics = est.evaluate(
                spec.input_fn,
                steps=spec.steps,
                hooks=spec.hooks,
                checkpoint_path=checkpoint_path,
                name=spec.name,
            )
        step = int(metrics["global_step"])
        final = self.max_steps is not None and step >= self.max_steps
        exports: list[Any] = []
        if est.runtime.is_chief:
            for exporter in spec.exporters:
                exports.append(
                    exporter.export(
                        estimator=est,
                        export_path=os.path.join(est.model_dir, "export", exporter.name),
                        checkpoint_path=checkpoint_path,
                        eval_result=metrics,
                        is_the_final_export=final,
                    )
                )
        self.metrics, self.export_results = metrics, exports
        self.last_step, self.last_time = step, time.monotonic()


class _CheckpointSeen(CheckpointSaverListener):
    """On the chief: remembers the newest checkpoint written after training started."""

    def __init__(self) -> None:
        self.start_step: int | None = None
        self.pending: tuple[int, str | None] | None = None

    def after_save(self, global_step: int) -> bool | None:
        if self.start_step is not None and global_step > self.start_step:
            self.pending = (global_step, None)
        return None


class _EvaluateDuringTraining(Hook):
    """Runs evaluations inside ``train``, on every rank at the same step.

    Checkpoint cadence: the chief's listener marks a new checkpoint; at the next ``before_step`` (the
    module still equals that checkpoint) the ranks agree whether to evaluate (a new checkpoint and
    ``throttle_secs`` passed, decided by the chief) and all evaluate. Step cadence needs no agreement.
    """

    def __init__(
        self, evaluation: _Evaluation, seen: _CheckpointSeen, every_n_steps: int | None, throttle_secs: float
    ) -> None:
        self.evaluation, self.seen = evaluation, seen
        self.every_n_steps, self.throttle_secs = every_n_steps, throttle_secs
        self.started = False
        self.start_step = 0

    def begin(self, ctx: RunContext) -> None:
        self.started = True
        self.start_step = ctx.global_step
        self.seen.start_step = ctx.global_step

    def _throttled(self) -> bool:
        last = self.evaluation.last_time
        return last is not None and time.monotonic() - last < self.throttle_secs

    def before_step(self, ctx: RunContext) -> None:
        rt, step = ctx.estimator.runtime, ctx.global_step
        if self.every_n_steps is not None:
            if (
                step > self.start_step
                and step % self.every_n_steps == 0
                and step != self.evaluation.last_step
            ):
                self._evaluate(rt)
            return
        wanted = self.seen.pending is not None and self.seen.pending[0] == step and not self._throttled()
        if self.seen.pending is not None and not wanted and rt.is_chief and self.seen.pending[0] == step:
            logger.info(
                "Skip the current checkpoint eval due to throttle secs (%s secs).", self.throttle_secs
            )
        if rt.strategy.agree(wanted):
            self._evaluate(rt)
        self.seen.pending = None

    def _evaluate(self, rt: Runtime) -> None:
        path = rt.latest_checkpoint() if rt.is_chief else None
        self.evaluation.run(path, live=True)


def _train_with_evaluation(est: Estimator, train_spec: TrainSpec, eval_spec: Any) -> tuple[Any, Any]:
    all_specs, eval_spec = eval_spec, as_eval_specs(eval_spec)[0]  # the first spec sets the cadence
    cfg = est.config
    logger.info(
        "Start train and evaluate loop. The evaluate will happen %s.",
        f"every {eval_spec.every_n_steps} steps"
        if eval_spec.every_n_steps
        else f"after every checkpoint (save_checkpoints_steps {cfg.save_checkpoints_steps} or save_checkpoints_secs "
        f"{cfg.save_checkpoints_secs}), at most every {eval_spec.throttle_secs} secs",
    )
    if eval_spec.every_n_steps is None and not cfg.checkpointing_enabled:
        raise InvalidArgumentError(
            "train_and_evaluate evaluates after each checkpoint, but checkpointing is disabled (save_checkpoints_steps "
            "and save_checkpoints_secs are both None); enable checkpoints or set EvalSpec(every_n_steps=N)."
        )
    evaluation = make_evaluation(est, all_specs, train_spec.max_steps)
    seen = _CheckpointSeen()
    hook = _EvaluateDuringTraining(evaluation, seen, eval_spec.every_n_steps, eval_spec.throttle_secs)
    listeners = list(train_spec.saving_listeners)
    if cfg.checkpointing_enabled:
        listeners.append(seen)
    est.train(
        train_spec.input_fn,
        hooks=[*train_spec.hooks, hook],
        max_steps=train_spec.max_steps,
        saving_listeners=listeners,
    )
    if not hook.started:  # max_steps already reached: nothing trained, nothing evaluated (as TF)
        return None, None
    if evaluation.last_step != est.global_step:
        rt = est.runtime
        evaluation.run(rt.latest_checkpoint() if rt.is_chief else None, live=True)
    return evaluation.metrics, evaluation.export_results


def _continuous_evaluation(est: Estimator, train_spec: TrainSpec, eval_spec: Any) -> tuple[Any, Any]:
    all_specs, eval_spec = eval_spec, as_eval_specs(eval_spec)[0]  # the first spec sets the cadence
    if eval_spec.start_delay_secs:
        logger.info("Waiting %f secs before starting eval.", eval_spec.start_delay_secs)
        time.sleep(eval_spec.start_delay_secs)
    evaluation = make_evaluation(est, all_specs, train_spec.max_steps)
    previous: str | None = None
    last_warning = 0.0

    def warn(message: str) -> None:
        nonlocal last_warning
        if time.monotonic() - last_warning > _NO_CHECKPOINT_LOG_SECS or last_warning == 0.0:
            logger.warning(message)
            last_warning = time.monotonic()

    while True:
        start = time.monotonic()
        latest = est.latest_checkpoint()
        evaluated = False
        if latest is None:
            warn("Estimator is not trained yet. Will start an evaluation when a checkpoint is ready.")
        elif latest == previous:
            warn(
                "No new checkpoint ready for evaluation. Skip the current evaluation pass as evaluation results are "
                "expected to be same for the same checkpoint."
            )
        else:
            try:
                evaluation.run(latest, live=False)
            except CheckpointError as e:  # garbage-collected by the chief while we read it: take the next one
                logger.warning("Could not evaluate %s (%s); waiting for the next checkpoint.", latest, e)
            else:
                previous, last_warning, evaluated = latest, 0.0, True
                step = evaluation.last_step
                if train_spec.max_steps is not None and step is not None and step >= train_spec.max_steps:
                    logger.info(
                        "Exiting evaluation, global_step=%s >= train max_steps=%s", step, train_spec.max_steps
                    )
                    return evaluation.metrics, evaluation.export_results
        remaining = eval_spec.throttle_secs - (time.monotonic() - start)
        if remaining > 0:
            time.sleep(remaining)
        elif not evaluated:
            time.sleep(1.0)  # nothing new: do not spin on the file system (TF warns with throttle_secs=0)


def train_and_evaluate(
    estimator: Estimator, train_spec: TrainSpec, eval_spec: EvalSpec | Sequence[EvalSpec]
) -> tuple[Any, Any]:
    """Train, evaluate and export ``estimator`` as its role in ``TF_CONFIG`` says (see the module docstring).

    Args:
        estimator: an :class:`~torchestimator.Estimator`.
        train_spec: a :class:`TrainSpec`.
        eval_spec: an :class:`EvalSpec`, or a list of them (:class:`~torchestimator.estimator.MultiEvaluation`; lists of
            results are returned then).

    Returns:
        ``(eval_metrics, export_results)`` of the last evaluation locally and on the evaluator;
        ``(None, None)`` on chief / worker / ps tasks, and when ``max_steps`` was already reached.

    Raises:
        InvalidArgumentError: wrong argument types, task type ``'local'`` or an unknown task type,
            or checkpoint-driven evaluation with checkpointing disabled.
    """
    from torchestimator.estimator._estimator import Estimator

    if not isinstance(estimator, Estimator):
        raise InvalidArgumentError(
            f"`estimator` must have type `torchestimator.Estimator`. Given {type(estimator)}"
        )
    if not isinstance(train_spec, TrainSpec):
        raise InvalidArgumentError(
            f"`train_spec` must have type `torchestimator.TrainSpec`. Given {type(train_spec)}"
        )
    as_eval_specs(eval_spec)  # an EvalSpec or a list of them (_multi_eval.py)
    cfg = estimator.config
    task_type = cfg.task_type
    if not cfg.cluster_spec and task_type != "evaluator":
        logger.info("Running training and evaluation locally (non-distributed).")
        return _train_with_evaluation(estimator, train_spec, eval_spec)
    if task_type == "local":
        raise InvalidArgumentError(
            "`task.type` in TF_CONFIG cannot be `local`. Leaving `cluster` and `task` properties in TF_CONFIG absent "
            "triggers train and evaluate `Estimator` locally (non-distributed)."
        )
    if task_type == "evaluator":
        return _continuous_evaluation(estimator, train_spec, eval_spec)
    if task_type == "master" or (task_type == "worker" and "master" in cfg.cluster_spec):
        return _train_with_evaluation(estimator, train_spec, eval_spec)
    if task_type in ("chief", "worker"):
        listeners = train_spec.saving_listeners if estimator.runtime.is_chief else ()
        estimator.train(
            train_spec.input_fn,
            hooks=train_spec.hooks,
            max_steps=train_spec.max_steps,
            saving_listeners=listeners,
        )
        return None, None
    # sharded embedding tables (ParameterServerStrategy): a ps task is a rank that holds table shards
    if task_type == "ps" and type(estimator.runtime.strategy).__name__ == "ShardedStrategy":
        estimator.train(train_spec.input_fn, hooks=train_spec.hooks, max_steps=train_spec.max_steps)
        return None, None
    if task_type == "ps":
        logger.info(
            "Task type 'ps' has nothing to do: DDP all-reduces gradients, so no parameter servers are needed. "
            "Launch only the chief, workers and evaluator."
        )
        return None, None
    raise InvalidArgumentError(
        f"Task type {task_type} is not supported. Supported task types are ['chief', 'evaluator', 'master', 'ps', 'worker']"
    )


def make_evaluation(est: Estimator, eval_spec: Any, max_steps: int | None) -> Any:
    """An :class:`_Evaluation` for one spec, a :class:`~torchestimator.estimator.MultiEvaluation` for a list."""
    if not isinstance(eval_spec, (list, tuple)):
        return _Evaluation(est, eval_spec, max_steps)
    return MultiEvaluation([_Evaluation(est, spec, max_steps) for spec in as_eval_specs(eval_spec)])
