"""``Estimator``: train / evaluate / predict an ``nn.Module`` model_fn, with checkpoints handled for you.

The module is built once and stays resident: ``train``, ``evaluate`` and ``predict`` use the same
object and reload weights only when ``model_dir`` holds a checkpoint newer than what is in memory
(another process wrote it, or this is a fresh Estimator resuming) — never on every call.

Example:
    >>> import torch, tempfile
    >>> from torchestimator import Estimator, EstimatorSpec, ModeKeys
    >>> class Linear(torch.nn.Module):
    ...     def __init__(self, params):
    ...         super().__init__()
    ...         self.layer = torch.nn.Linear(1, 1)
    ...         self.optimizer = torch.optim.SGD(self.parameters(), lr=params["lr"])
    ...     def forward(self, features, labels=None, mode=ModeKeys.TRAIN):
    ...         y = self.layer(features["x"])
    ...         if mode == ModeKeys.PREDICT:
    ...             return EstimatorSpec(mode, predictions={"y": y})
    ...         loss = torch.nn.functional.mse_loss(y, labels)
    ...         return EstimatorSpec(mode, loss=loss, train_op=self.optimizer)
    >>> x = torch.linspace(0, 1, 32).reshape(-1, 1)
    >>> est = Estimator(Linear, model_dir=tempfile.mkdtemp(), params={"lr": 0.5})
    >>> _ = est.train(lambda: ({"x": x}, 2 * x), steps=50)
    >>> est.evaluate(lambda: ({"x": x}, 2 * x))["global_step"]
    50
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from torchestimator import checkpoint as ckpt_lib
from torchestimator.errors import (
    CheckpointNotFoundError,
    InvalidArgumentError,
    did_you_mean,
)
from torchestimator.estimator._evaluation import run_evaluation
from torchestimator.estimator._function_build import build_function_model
from torchestimator.estimator._prediction import run_prediction
from torchestimator.estimator._runtime import ESTIMATOR_ALIASES, Runtime
from torchestimator.estimator._train_loop import run_training
from torchestimator.hooks.base import CheckpointSaverListener, Hook
from torchestimator.hooks.basic import ProgressBarHook
from torchestimator.hooks.session_run import as_loop_hooks, as_saving_listeners
from torchestimator.model_dir_guard import lock_for_training, resolve_model_dir, training_input_seed_of
from torchestimator.progress import progress_wanted
from torchestimator.run_config import RunConfig
from torchestimator.spec import ModeKeys
from torchestimator.threads import scoped_threads, threads_for_run

__all__ = ["Estimator"]

logger = logging.getLogger("torchestimator")


def _check_positive(name: str, value: Any) -> None:
    if value is not None and (
        not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0
    ):
        raise InvalidArgumentError(f"Must specify {name} > 0, given: {value!r}")


class Estimator:
    """Trains, evaluates and predicts with a model_fn ``nn.Module`` (tf.estimator.Estimator).

    Args:
        model_fn: an ``nn.Module`` subclass or factory ``params -> nn.Module`` (it may also name
            ``config``), or a module instance. Its ``forward(features, labels=None, mode=...)``
            returns an :class:`~torchestimator.EstimatorSpec`. Or a TF-style function
            ``model_fn(features, labels, mode, params, config)`` building its layers inline
            (:mod:`torchestimator.function_model`, ``te.compat.v1``).
        model_dir: where checkpoints and summaries go (else ``config.model_dir``, else a temp dir).
        config: a :class:`RunConfig`.
        params: hyper-parameters passed to the factory (deep-copied).
        warm_start_from: a model_dir, checkpoint path or ``WarmStartSettings`` to initialise from
            when ``model_dir`` has no checkpoint yet.

    Raises:
        InvalidArgumentError: conflicting model_dirs, a model_dir that is a file, a bad model_fn.
    """

    def __init__(
        self,
        model_fn: Any,
        model_dir: str | os.PathLike[str] | None = None,
        config: RunConfig | None = None,
        params: Mapping[str, Any] | None = None,
        warm_start_from: Any = None,
    ) -> None:
        config = config if config is not None else RunConfig()
        if not isinstance(config, RunConfig):
            raise InvalidArgumentError(f"config must be a RunConfig; received {type(config).__name__}.")
        model_dir = resolve_model_dir(model_dir, config)
        self._runtime = Runtime(
            self,
            model_fn,
            model_dir,
            config.replace(model_dir=model_dir),
            copy.deepcopy(dict(params or {})),
            warm_start_from,
        )

    # ------------------------------------------------------------------ properties
    @property
    def model_dir(self) -> str:
        return self._runtime.model_dir

    @property
    def config(self) -> RunConfig:
        return self._runtime.config

    @property
    def params(self) -> dict[str, Any]:
        return copy.deepcopy(self._runtime.params)

    @property
    def model(self) -> torch.nn.Module:
        """The resident model_fn module (plain, never DDP-wrapped)."""
        return self._runtime.module

    @property
    def global_step(self) -> int:
        return self._runtime.global_step

    @property
    def runtime(self) -> Runtime:
        """The :class:`~torchestimator.estimator.Runtime` below this facade (resident module, strategy,
        optimizers, step, writers, checkpoints): what torchestimator's loops, hooks and export use. Not a
        stable API; prefer the Estimator's methods."""
        return self._runtime

    def __repr__(self) -> str:
        rt = self._runtime
        params = sum(p.numel() for p in rt.module.parameters())
        return (
            f"{type(self).__name__}(model={type(rt.module).__name__} with {params:,} parameters, "
            f"model_dir={rt.model_dir!r}, global_step={rt.global_step}, strategy={rt.strategy!r})"
        )

    def eval_dir(self, name: str | None = None) -> str:
        return self._runtime.eval_dir(name)

    def latest_checkpoint(self) -> str | None:
        return self._runtime.latest_checkpoint()

    def get_variable_names(self) -> list[str]:
        """Names of every tensor in the latest checkpoint (model, optimizer slots) plus ``global_step``."""
        state = self._load_latest_or_raise()
        names = [k for k, v in state.model.items() if isinstance(v, torch.Tensor)]
        for opt_name, opt in state.optimizers.items():
            names += [
                f"{opt_name}/{i}/{k}"
                for i, s in opt["state"].items()
                for k, v in s.items()
                if isinstance(v, torch.Tensor)
            ]
        return [*sorted(names), "global_step"]

    def get_variable_value(self, name: str) -> np.ndarray:
        """The value of ``name`` (see :meth:`get_variable_names`) in the latest checkpoint."""
        state = self._load_latest_or_raise()
        if name == "global_step":
            return np.asarray(state.global_step, dtype=np.int64)
        if name in state.model and isinstance(state.model[name], torch.Tensor):
            return state.model[name].numpy()
        parts = name.rsplit("/", 2)
        if len(parts) == 3 and parts[0] in state.optimizers:
            value = (
                state.optimizers[parts[0]]["state"].get(int(parts[1]), {}).get(parts[2])
                if parts[1].isdigit()
                else None
            )
            if isinstance(value, torch.Tensor):
                return value.numpy()
        raise InvalidArgumentError(
            f"variable {name!r} not in checkpoint {state.path}{did_you_mean(name, self.get_variable_names())}."
        )

    def _load_latest_or_raise(self) -> ckpt_lib.CheckpointState:
        latest = self.latest_checkpoint()
        if latest is None:
            raise CheckpointNotFoundError(
                f"Estimator has no checkpoint in model_dir {self.model_dir!r}; train it first."
            )
        return ckpt_lib.load_checkpoint(latest)

    # ------------------------------------------------------------------ train / evaluate / predict
    def train(
        self,
        input_fn: Callable[..., Any],
        hooks: Sequence[Hook] | None = None,
        steps: int | None = None,
        max_steps: int | None = None,
        saving_listeners: Sequence[CheckpointSaverListener] | None = None,
    ) -> Estimator:
        """Train until ``steps`` more steps, ``max_steps`` in total, a stop request or the end of input.

        The chief holds an exclusive lock on ``model_dir`` for the whole call. Restarting an interrupted
        ``train(max_steps=N)`` with the same ``max_steps`` resumes its input (position and the seed of
        unseeded shuffles) and every rank's RNG state: the result is bit-identical to an uninterrupted
        run (docs/recovery.md).

        Raises:
            InvalidArgumentError: ``steps`` and ``max_steps`` together, a non-positive count, saving
                listeners with checkpointing disabled, or a task type that does not train.
            CheckpointError: another process is training ``model_dir`` (named in the message), or a
                checkpoint could not be written (disk full: the message names the space needed).
            CorruptCheckpointError: ``model_dir`` holds checkpoints but none loads (listed, with how to
                start over); nothing is trained or deleted.
            NanLossDuringTrainingError: the loss became NaN, or a parameter / optimizer slot is not
                finite at a save (``NonFiniteParametersError``; nothing is written).
        """
        rt = self._runtime
        if rt.config.task_type in ("evaluator", "ps"):
            raise InvalidArgumentError(
                f"Train has been called with task_type {rt.config.task_type!r}; it does not train."
            )
        if steps is not None and max_steps is not None:
            raise InvalidArgumentError(
                f"Can not provide both steps and max_steps; received steps={steps}, max_steps={max_steps}."
            )
        _check_positive("steps", steps)
        _check_positive("max_steps", max_steps)
        if saving_listeners and not rt.config.checkpointing_enabled:
            raise InvalidArgumentError(
                "saving_listeners were given but checkpointing is disabled (save_checkpoints_steps and "
                "save_checkpoints_secs are both None); enable checkpoints or drop the listeners."
            )
        lock = lock_for_training(rt.strategy, rt.model_dir)
        try:
            input_fn = build_function_model(rt, input_fn, ModeKeys.TRAIN)  # function model_fn: build first
            rt.restore_if_newer(for_training=True)
            if max_steps is not None and rt.global_step >= max_steps:
                logger.info(
                    "Skipping training since max_steps has already saved (global_step %d >= %d).",
                    rt.global_step,
                    max_steps,
                )
                return self
            last_step = (
                max_steps
                if max_steps is not None
                else (rt.global_step + steps if steps is not None else None)
            )
            skip, seed = 0, None
            resume = rt.resume_input
            if resume and last_step is not None and resume.get("last_step") == last_step:
                skip, seed = int(resume.get("batches_consumed", 0)), resume.get("shuffle_seed")
            rt.resume_input = None
            with threads_for_run(rt.config):  # the run's torch threads (RunConfig.num_threads)
                run_training(
                    rt,
                    input_fn,
                    as_loop_hooks(hooks),
                    last_step,
                    as_saving_listeners(saving_listeners),
                    skip_batches=skip,
                    input_seed=training_input_seed_of(rt.strategy, rt.config, seed),
                )
        finally:
            rt.close_writers()
            if lock is not None:
                lock.release()
        return self

    def evaluate(
        self,
        input_fn: Callable[..., Any],
        steps: int | None = None,
        hooks: Sequence[Hook] | None = None,
        checkpoint_path: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Evaluate on ``input_fn`` (to exhaustion unless ``steps``); returns metrics, ``loss``, ``global_step``.

        Raises:
            CheckpointNotFoundError: ``model_dir`` has no checkpoint that loads and the weights are the
                initial ones (not trained in this process, not warm-started, not a module instance you
                passed); ``RunConfig(allow_untrained=True)`` evaluates the initial weights instead.
        """
        _check_positive("steps", steps)
        rt = self._runtime
        input_fn = build_function_model(rt, input_fn, ModeKeys.EVAL)
        rt.use_checkpoint(checkpoint_path)
        try:
            with threads_for_run(rt.config):  # the run's torch threads (RunConfig.num_threads)
                return run_evaluation(
                    rt,
                    input_fn,
                    steps,
                    [*self._progress_hooks(steps), *as_loop_hooks(hooks)],
                    name,
                    checkpoint_path or rt.resident_checkpoint,
                )
        finally:
            rt.close_writers()

    def predict(
        self,
        input_fn: Callable[..., Any],
        predict_keys: Sequence[str] | str | None = None,
        hooks: Sequence[Hook] | None = None,
        checkpoint_path: str | None = None,
        yield_single_examples: bool = True,
    ) -> Iterator[Any]:
        """Yield predictions: one dict per example (or per batch with ``yield_single_examples=False``).

        Raises:
            CheckpointNotFoundError: nothing to load, as in :meth:`evaluate` (raised by this call, before
                the first prediction is drawn).
        """
        input_fn = build_function_model(self._runtime, input_fn, ModeKeys.PREDICT)
        self._runtime.use_checkpoint(checkpoint_path)
        keys = [predict_keys] if isinstance(predict_keys, str) else predict_keys
        hooks = [*self._progress_hooks(None), *as_loop_hooks(hooks)]
        predictions = run_prediction(self._runtime, input_fn, keys, hooks, yield_single_examples)
        return scoped_threads(self._runtime.config, predictions)  # the run's torch threads, while it yields

    def _progress_hooks(self, steps: int | None) -> list[Hook]:
        """A progress bar for evaluate / predict where ``RunConfig.progress_bar`` wants one (chief only)."""
        if self._runtime.is_chief and progress_wanted(self.config.progress_bar):
            return [ProgressBarHook(total=steps)]
        return []

    def export_saved_model(
        self,
        export_dir_base: str | os.PathLike[str],
        serving_input_receiver_fn: Callable[[], Any],
        assets_extra: Mapping[str, str] | None = None,
        as_text: bool = False,
        checkpoint_path: str | None = None,
        experimental_mode: str = ModeKeys.PREDICT,
    ) -> str:
        """Export the model with its preprocessing for serving; see :mod:`torchestimator.export`."""
        from torchestimator.export import export_saved_model

        build_function_model(
            self._runtime, None, ModeKeys.PREDICT
        )  # raises if a function model_fn was never built
        return export_saved_model(
            self,
            export_dir_base,
            serving_input_receiver_fn,
            assets_extra=assets_extra,
            as_text=as_text,
            checkpoint_path=checkpoint_path,
            experimental_mode=experimental_mode,
        )

    def export_savedmodel(self, *args: Any, **kwargs: Any) -> str:
        """Deprecated alias of :meth:`export_saved_model` (as in TF); warns ``DeprecationWarning``."""
        from torchestimator.export.default_outputs import warn_export_savedmodel

        warn_export_savedmodel(kwargs.pop("strip_default_attrs", None))
        return self.export_saved_model(*args, **kwargs)

    # ------------------------------------------------------------------ the old private names
    # Code written against the Estimator's former private attributes (``est._strategy``, ``est._save()``,
    # ...) reaches the Runtime, where that state lives now. New code: ``est.runtime``.
    def __getattr__(self, name: str) -> Any:
        target = ESTIMATOR_ALIASES.get(name)
        if target is None or name == "_runtime":
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(self._runtime, target)

    def __setattr__(self, name: str, value: Any) -> None:
        target = ESTIMATOR_ALIASES.get(name)
        if target is not None and "_runtime" in self.__dict__:
            setattr(self._runtime, target, value)
        else:
            object.__setattr__(self, name, value)
