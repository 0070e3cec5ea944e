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
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torchestimator import checkpoint as ckpt_lib
from torchestimator.columns import find_host_transform
from torchestimator.errors import (
    CheckpointNotFoundError,
    InvalidArgumentError,
    did_you_mean,
)
from torchestimator.evaluation import run_evaluation
from torchestimator.heads import find_weight_keys
from torchestimator.hooks.base import CheckpointSaverListener, Hook
from torchestimator.hooks.basic import ProgressBarHook
from torchestimator.input_fn import Batch, call_input_fn, host_batches, to_device
from torchestimator.model_compile import compile_model, compile_options
from torchestimator.model_dir_guard import (
    all_corrupt_error,
    lock_for_training,
    nothing_to_load_error,
    training_input_seed_of,
)
from torchestimator.model_fn import ModelCaller, build_module
from torchestimator.nonfinite import check_finite_before_save
from torchestimator.parallel.placement import module_optimizers, move_optimizer_state
from torchestimator.parallel.resolve import resolve_strategy
from torchestimator.progress import progress_wanted
from torchestimator.rng import seed_everything
from torchestimator.run_config import RunConfig
from torchestimator.spec import ModeKeys
from torchestimator.summaries import SummaryWriter
from torchestimator.train_loop import run_training

__all__ = ["Estimator"]

logger = logging.getLogger("torchestimator")


def _resolve_model_dir(model_dir: Any, config: RunConfig) -> str:
    if model_dir is not None and config.model_dir is not None and os.fspath(model_dir) != config.model_dir:
        raise InvalidArgumentError(
            f"model_dir are set both in constructor and RunConfig, but with different values. In constructor: "
            f"{os.fspath(model_dir)!r}, in RunConfig: {config.model_dir!r}."
        )
    resolved = os.fspath(model_dir) if model_dir is not None else config.model_dir
    if resolved is None:
        resolved = tempfile.mkdtemp(prefix="torchestimator-")
        logger.warning("Using temporary folder as model directory: %s", resolved)
    if resolved == "":
        raise InvalidArgumentError("model_dir must be a non-empty path; received ''.")
    if os.path.exists(resolved) and not os.path.isdir(resolved):
        raise InvalidArgumentError(
            f"model_dir {resolved!r} exists and is a file; expected a directory (or a new path)."
        )
    return resolved


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
            returns an :class:`~torchestimator.EstimatorSpec`.
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
        self._model_dir = _resolve_model_dir(model_dir, config)
        self._config = config.replace(model_dir=self._model_dir)
        self._params = copy.deepcopy(dict(params or {}))
        if self._config.tf_random_seed is not None:
            seed_everything(self._config.tf_random_seed)
        self._strategy = resolve_strategy(
            self._config.train_distribute, self._config.device, self._config.session_creation_timeout_secs
        )
        self._strategy.setup()
        with self._strategy.building():  # sharded tables: built without their memory (parallel.sharded)
            self._module = build_module(model_fn, self._params, self._config).to(self._strategy.device)
        compile_model(self._module, compile_options(self._config.compile))
        self._caller = ModelCaller(self._module, self._params, self._config)
        self._transform = find_host_transform(self._module)
        self._optimizers: dict[str, torch.optim.Optimizer] = module_optimizers(self._module)
        move_optimizer_state(
            self._module
        )  # e.g. Adagrad accumulators built on the CPU before module.to(cuda)
        self._pending_optimizer_state: dict[str, Any] = {}
        self._registered_key: tuple[int, ...] = ()
        self._global_step = 0
        self._resident_checkpoint: str | None = (
            None  # the checkpoint the resident state came from / was saved to
        )
        self._resume_input: dict[str, Any] | None = None
        self._resume_rng: dict[str, Any] | None = None
        self._warm_start_from = warm_start_from
        self._warm_started = False  # weights came from warm_start_from (evaluate/predict may use them)
        self._weights_given = isinstance(
            model_fn, torch.nn.Module
        )  # an instance carries the caller's weights
        self._writers: dict[str, SummaryWriter] = {}

    # ------------------------------------------------------------------ properties
    @property
    def model_dir(self) -> str:
        return self._model_dir

    @property
    def config(self) -> RunConfig:
        return self._config

    @property
    def params(self) -> dict[str, Any]:
        return copy.deepcopy(self._params)

    @property
    def model(self) -> torch.nn.Module:
        """The resident model_fn module (plain, never DDP-wrapped)."""
        return self._module

    @property
    def global_step(self) -> int:
        return self._global_step

    def __repr__(self) -> str:
        model = type(self._module).__name__
        params = sum(p.numel() for p in self._module.parameters())
        return (
            f"{type(self).__name__}(model={model} with {params:,} parameters, model_dir={self._model_dir!r}, "
            f"global_step={self._global_step}, strategy={self._strategy!r})"
        )

    def eval_dir(self, name: str | None = None) -> str:
        return os.path.join(self._model_dir, "eval" if not name else f"eval_{name}")

    def latest_checkpoint(self) -> str | None:
        return ckpt_lib.latest_checkpoint(self._model_dir)

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
                f"Estimator has no checkpoint in model_dir {self._model_dir!r}; train it first."
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
        if self._config.task_type in ("evaluator", "ps"):
            raise InvalidArgumentError(
                f"Train has been called with task_type {self._config.task_type!r}; it does not train."
            )
        if steps is not None and max_steps is not None:
            raise InvalidArgumentError(
                f"Can not provide both steps and max_steps; received steps={steps}, max_steps={max_steps}."
            )
        _check_positive("steps", steps)
        _check_positive("max_steps", max_steps)
        if saving_listeners and not self._config.checkpointing_enabled:
            raise InvalidArgumentError(
                "saving_listeners were given but checkpointing is disabled (save_checkpoints_steps and "
                "save_checkpoints_secs are both None); enable checkpoints or drop the listeners."
            )
        lock = lock_for_training(self._strategy, self._model_dir)
        try:
            self._restore_if_newer(for_training=True)
            if max_steps is not None and self._global_step >= max_steps:
                logger.info(
                    "Skipping training since max_steps has already saved (global_step %d >= %d).",
                    self._global_step,
                    max_steps,
                )
                return self
            last_step = (
                max_steps
                if max_steps is not None
                else (self._global_step + steps if steps is not None else None)
            )
            skip, seed = 0, None
            resume = self._resume_input
            if resume and last_step is not None and resume.get("last_step") == last_step:
                skip, seed = int(resume.get("batches_consumed", 0)), resume.get("shuffle_seed")
            self._resume_input = None
            run_training(
                self,
                input_fn,
                list(hooks or ()),
                last_step,
                list(saving_listeners or ()),
                skip_batches=skip,
                input_seed=training_input_seed_of(self._strategy, self._config, seed),
            )
        finally:
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
        self._use_checkpoint(checkpoint_path)
        return run_evaluation(
            self,
            input_fn,
            steps,
            [*self._progress_hooks(steps), *(hooks or ())],
            name,
            checkpoint_path or self._resident_checkpoint,
        )

    def _evaluate_resident(
        self, input_fn: Callable[..., Any], steps: int | None, hooks: Sequence[Hook] | None, name: str | None
    ) -> dict[str, Any]:
        """Evaluate the in-memory model as it is (used by InMemoryEvaluatorHook during training)."""
        return run_evaluation(self, input_fn, steps, list(hooks or ()), name, None)

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
        from torchestimator.prediction import run_prediction

        self._use_checkpoint(checkpoint_path)
        keys = [predict_keys] if isinstance(predict_keys, str) else predict_keys
        hooks = [*self._progress_hooks(None), *(hooks or ())]
        return run_prediction(self, input_fn, keys, hooks, yield_single_examples)

    def _progress_hooks(self, steps: int | None) -> list[Hook]:
        """A progress bar for evaluate / predict where ``RunConfig.progress_bar`` wants one (chief only)."""
        if self._strategy.is_chief and progress_wanted(self._config.progress_bar):
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

        return export_saved_model(
            self,
            export_dir_base,
            serving_input_receiver_fn,
            assets_extra=assets_extra,
            as_text=as_text,
            checkpoint_path=checkpoint_path,
            experimental_mode=experimental_mode,
        )

    # ------------------------------------------------------------------ internals used by the loops
    def _host_stream(self, batches: Iterator[Batch]) -> Iterator[Batch]:
        """The host stage (tensors, column transforms), prefetched in a background thread when the model
        has feature-column transforms and trains on an accelerator, where host work overlaps device work.
        On CPU the two share the cores: a thread beside torch's intra-op threads cost 3-6% in
        scripts/bench_overhead.py and scripts/bench_columns.py. torchestimator's readers prefetch their
        own batches either way."""
        stream = host_batches(batches, self._transform, find_weight_keys(self._module))
        on_accelerator = self._strategy.device.type != "cpu"
        if self._config.prefetch_batches > 0 and self._transform is not None and on_accelerator:
            from torchestimator.inputs.prefetch import prefetch

            return prefetch(stream, self._config.prefetch_batches)
        return stream

    def _batches(self, input_fn: Callable[..., Any], mode: str) -> Iterator[Batch]:
        ctx = self._strategy.input_context()
        return self._host_stream(
            call_input_fn(input_fn, mode, params=self.params, config=self._config, input_context=ctx)
        )

    def _to_device(self, value: Any) -> Any:
        return to_device(value, self._strategy.device)

    def _train_writer(self) -> SummaryWriter:
        return self._writer(self._model_dir)

    def _writer(self, logdir: str) -> SummaryWriter:
        if logdir not in self._writers:
            self._writers[logdir] = SummaryWriter(logdir)
        return self._writers[logdir]

    def _register_optimizers(self, optimizers: Mapping[str, torch.optim.Optimizer]) -> None:
        key = tuple(map(id, optimizers.values()))
        if key == self._registered_key:  # the same optimizers as the last step: nothing to do
            return
        self._registered_key = key
        for name, opt in optimizers.items():
            if any(opt is known for known in self._optimizers.values()):
                continue
            if name in self._optimizers:
                name = f"{name}_{len(self._optimizers)}"
            self._optimizers[name] = opt
            if name in self._pending_optimizer_state:
                opt.load_state_dict(self._pending_optimizer_state.pop(name))

    def _has_checkpoint_at(self, step: int) -> bool:
        return (Path(self._model_dir) / f"{ckpt_lib.PREFIX}{step}").is_dir()

    def _save(self, input_state: dict[str, Any] | None, rank_rng: dict[str, Any] | None = None) -> str:
        check_finite_before_save(self._module, self._optimizers, self._global_step, self._model_dir)
        opt_states = {name: opt.state_dict() for name, opt in self._optimizers.items()}
        opt_states.update({k: v for k, v in self._pending_optimizer_state.items() if k not in opt_states})
        path = ckpt_lib.save_checkpoint(
            self._model_dir,
            self._global_step,
            self._module.state_dict(),
            opt_states,
            input_state=input_state,
            keep_checkpoint_max=self._config.keep_checkpoint_max,
            keep_checkpoint_every_n_hours=self._config.keep_checkpoint_every_n_hours,
            rank_rng=rank_rng,
            shards=self._strategy.checkpoint_shards(),  # sharded tables: the ranks' shard files
        )
        self._resident_checkpoint = path
        return path

    def _use_checkpoint(self, checkpoint_path: str | None) -> None:
        if checkpoint_path is None:
            self._restore_if_newer(for_training=False)
            has_weights = (
                self._resident_checkpoint is not None
                or self._global_step > 0
                or self._warm_started
                or self._weights_given
            )
            if not has_weights and not self._config.allow_untrained:
                raise nothing_to_load_error(self._model_dir)
            return
        state = ckpt_lib.load_checkpoint(checkpoint_path)
        if state.path != self._resident_checkpoint:
            self._apply(state, for_training=False)

    def _restore_if_newer(self, for_training: bool) -> None:
        newest = ckpt_lib.latest_checkpoint(self._model_dir, verify=False)
        if newest is None or newest == self._resident_checkpoint:
            if newest is None and self._warm_start_from is not None and self._resident_checkpoint is None:
                from torchestimator.warm_start import warm_start

                warm_start(self._module, self._warm_start_from)
                self._warm_start_from = None
                self._warm_started = True
            return
        # sharded tables: each rank reads its own rows when it shards them (not the full table here)
        deferred = for_training and self._strategy.reads_shard_files
        state = ckpt_lib.load_latest(self._model_dir, assemble_shards=not deferred)
        if state is None:
            if for_training:
                raise all_corrupt_error(self._model_dir)
            return
        if state.path == self._resident_checkpoint:
            return
        if self._resident_checkpoint is not None and state.global_step < self._global_step:
            return  # the resident model is ahead of what is on disk (e.g. checkpoints disabled)
        self._apply(state, for_training=for_training)

    def _apply(self, state: ckpt_lib.CheckpointState, for_training: bool) -> None:
        ckpt_lib.check_compatible(self._module, state.model, str(state.path))
        self._module.load_state_dict(state.model)
        self._pending_optimizer_state = {}
        for name, opt_state in state.optimizers.items():
            if name in self._optimizers:
                self._optimizers[name].load_state_dict(opt_state)
            else:
                self._pending_optimizer_state[name] = opt_state
        self._strategy.restored_from(state)  # sharded tables: where each rank reads its rows
        self._global_step = state.global_step
        self._resident_checkpoint = state.path
        if state.shards_deferred:  # sharded tables not in the module until training reads them
            self._resident_checkpoint = None
        if for_training:
            # applied by the train loop once the input iterator exists, so a resumed run draws the same
            # input order as an uninterrupted one and continues the same random stream after it
            self._resume_rng = state.rng
            self._resume_input = state.input
        logger.info("Restored %s (global_step %d).", state.path, state.global_step)
