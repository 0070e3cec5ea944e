"""``Runtime``: what ``train`` / ``evaluate`` / ``predict`` run on, below the loops and the Estimator facade.

The layers, top to bottom (each imports only the ones below it)::

    train_and_evaluate                 roles, evaluation cadence, exporters (_train_and_evaluate.py)
      Estimator (_estimator.py)        validates arguments, picks the checkpoint, fires the loops
        loops (_train_loop.py, _evaluation.py, _prediction.py)
          Runtime (this module)        resident module + strategy + optimizers + global step,
                                       the input stage, summary writers, checkpoint bookkeeping
            model_fn, input_fn, checkpoint, parallel, hooks.base ...

A Runtime is built once per Estimator and stays resident: the loops read and advance its state
(``global_step``, ``optimizers``) and it reloads weights only when ``model_dir`` holds a checkpoint newer
than what is in memory. Side effects that only the chief performs (checkpoints, summaries, progress
bars, exporters) are gated on :attr:`Runtime.is_chief`.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from torchestimator import checkpoint as ckpt_lib
from torchestimator.closing import close_iterator
from torchestimator.columns import find_host_transform
from torchestimator.heads import find_weight_keys
from torchestimator.hooks.base import RunContext
from torchestimator.input_fn import Batch, call_input_fn, host_batches, to_device
from torchestimator.model_compile import compile_model, compile_options
from torchestimator.model_dir_guard import all_corrupt_error, nothing_to_load_error
from torchestimator.model_fn import ModelCaller, build_module
from torchestimator.nonfinite import check_finite_before_save
from torchestimator.optimizers.sparse_check import check_sparse_gradient_support
from torchestimator.parallel.placement import module_optimizers, move_optimizer_state
from torchestimator.parallel.resolve import resolve_strategy
from torchestimator.rng import seed_everything
from torchestimator.run_config import RunConfig
from torchestimator.session_config import apply_session_settings, parse_session_config
from torchestimator.summaries import SummaryWriter
from torchestimator.threads import adapt_threads, cpu_host_thread, release_host_thread

__all__ = ["ESTIMATOR_ALIASES", "Runtime", "fire_hooks", "open_stream"]

logger = logging.getLogger("torchestimator")


def fire_hooks(hooks: Iterable[Any], event: str, ctx: RunContext, *args: Any) -> None:
    """Call ``hook.<event>(ctx, *args)`` on every hook, in order (the one place the loops fire events)."""
    for hook in hooks:
        getattr(hook, event)(ctx, *args)


@contextlib.contextmanager
def open_stream(stream: Iterator[Batch]) -> Iterator[Iterator[Batch]]:
    """Yield ``stream`` and close it (its reader threads, files) however the loop ends."""
    try:
        yield stream
    finally:
        close_iterator(stream)


class Runtime:
    """The resident state behind one Estimator and the services the loops share.

    Args:
        estimator: the facade this runtime serves (what hooks see as ``ctx.estimator``).
        model_fn: the model_fn class, factory or module instance.
        model_dir: the resolved model directory.
        config: the validated :class:`RunConfig` (``model_dir`` filled in).
        params: the deep-copied hyper-parameters.
        warm_start_from: what to warm-start from when ``model_dir`` has no checkpoint yet.

    Attributes:
        strategy: the distribution strategy (device, rank, collectives).
        module: the resident model_fn module (plain, never DDP-wrapped).
        caller: calls the module and validates its ``EstimatorSpec``.
        optimizers: every optimizer seen so far, by checkpoint name.
        global_step: the step of the resident state.
        resident_checkpoint: the checkpoint the resident state came from / was saved to.
        resume_input, resume_rng: what an interrupted ``train`` call left to resume (set by a restore
            for training, consumed by the train loop).
        prepare_state: called with a checkpoint's model state before it is loaded, or None.
    """

    def __init__(
        self,
        estimator: Any,
        model_fn: Any,
        model_dir: str,
        config: RunConfig,
        params: dict[str, Any],
        warm_start_from: Any,
    ) -> None:
        self.estimator = estimator
        self.model_dir, self.config, self.params = model_dir, config, params
        if config.tf_random_seed is not None:
            seed_everything(config.tf_random_seed)
        self.strategy = resolve_strategy(
            config.train_distribute, config.device, config.session_creation_timeout_secs
        )
        self.strategy.setup()
        apply_session_settings(parse_session_config(config.session_config), self.strategy.device)
        with self.strategy.building():  # sharded tables: built without their memory (parallel.sharded)
            self.module = build_module(model_fn, params, config).to(self.strategy.device)
        compile_model(self.module, compile_options(config.compile))
        self.caller = ModelCaller(self.module, params, config)
        self.transform = find_host_transform(self.module)
        self.optimizers: dict[str, torch.optim.Optimizer] = module_optimizers(self.module)
        move_optimizer_state(self.module)  # e.g. Adagrad accumulators built on the CPU before module.to(cuda)
        self.pending_optimizer_state: dict[str, Any] = {}
        self.registered_key: tuple[int, ...] = ()
        self.global_step = 0
        self.resident_checkpoint: str | None = None
        self.resume_input: dict[str, Any] | None = None
        self.resume_rng: dict[str, Any] | None = None
        self.warm_start_from = warm_start_from
        self.warm_started = False  # weights came from warm_start_from (evaluate/predict may use them)
        self.weights_given = isinstance(model_fn, torch.nn.Module)  # an instance carries the caller's weights
        self.writers: dict[str, SummaryWriter] = {}
        # called with a checkpoint's model state before it is checked and loaded (KMeans sizes its centres)
        self.prepare_state: Callable[[Mapping[str, Any]], None] | None = None

    # ------------------------------------------------------------------ the chief gate
    @property
    def is_chief(self) -> bool:
        """Whether this process writes checkpoints, summaries and exports (the one chief gate)."""
        return self.strategy.is_chief

    def context(self, mode: str) -> RunContext:
        """A fresh :class:`RunContext` for a loop in ``mode`` at the resident step."""
        return RunContext(estimator=self.estimator, mode=mode, global_step=self.global_step)

    # ------------------------------------------------------------------ the input stage
    def input_stream(self, input_fn: Callable[..., Any], mode: str, skip_batches: int = 0) -> Iterator[Batch]:
        """The one input entrance: call ``input_fn``, skip ``skip_batches`` (a resumed ``train``), host stage.

        Close what it returns (:func:`open_stream`): a prefetching stream owns a thread.
        """
        batches = call_input_fn(
            input_fn,
            mode,
            params=copy.deepcopy(self.params),
            config=self.config,
            input_context=self.strategy.input_context(),
        )
        for _ in range(skip_batches):  # resume an interrupted train() call where it stopped reading
            if next(batches, None) is None:
                break
        if skip_batches:
            logger.info("Resumed the input of the interrupted train() call after %d batches.", skip_batches)
        return self.host_stream(batches)

    def host_stream(self, batches: Iterator[Batch]) -> Iterator[Batch]:
        """The host stage (tensors, column transforms), prefetched in a background thread when the model
        has feature-column transforms and trains on an accelerator, where host work overlaps device work.
        On CPU the two share the cores: a thread beside torch's intra-op threads cost 3-6% in
        scripts/bench_overhead.py and scripts/bench_columns.py. torchestimator's readers prefetch their
        own batches either way. Under ``RunConfig(num_threads='auto')`` with >= 2 free CPUs the CPU run
        measures its first batches inline and then with a background thread (when the host stage is a
        large enough share of a step), with torch one thread less, and keeps the faster
        (:class:`~torchestimator.inputs.measured_prefetch.MeasuredPrefetch`,
        :func:`torchestimator.threads.cpu_host_thread`)."""
        stream = host_batches(batches, self.transform, find_weight_keys(self.module))
        on_accelerator = self.strategy.device.type != "cpu"
        if self.config.prefetch_batches > 0 and self.transform is not None and on_accelerator:
            from torchestimator.inputs.prefetch import prefetch

            return prefetch(stream, self.config.prefetch_batches)
        if (
            self.config.prefetch_batches > 0
            and self.transform is not None
            and cpu_host_thread(check_only=True)
        ):
            from torchestimator.inputs.measured_prefetch import MeasuredPrefetch

            stream = MeasuredPrefetch(
                stream, cpu_host_thread, self.config.prefetch_batches, release=release_host_thread
            )
        return adapt_threads(stream)  # re-checks RunConfig.num_threads='auto' on the training thread

    def to_device(self, value: Any) -> Any:
        """Move every tensor of a (nested) batch to the strategy's device."""
        return to_device(value, self.strategy.device)

    # ------------------------------------------------------------------ summaries
    def eval_dir(self, name: str | None = None) -> str:
        """Where evaluation ``name`` writes its summaries (``model_dir/eval`` or ``model_dir/eval_<name>``)."""
        return os.path.join(self.model_dir, "eval" if not name else f"eval_{name}")

    def writer(self, logdir: str) -> SummaryWriter:
        """The (shared, lazily opened) summary writer of ``logdir``."""
        if logdir not in self.writers:
            self.writers[logdir] = SummaryWriter(logdir)
        return self.writers[logdir]

    def train_writer(self) -> SummaryWriter:
        """The writer of the training summaries (``model_dir``)."""
        return self.writer(self.model_dir)

    def close_writers(self) -> None:
        """Flush and close every summary writer (the end of a ``train`` / ``evaluate`` call): each holds an
        event file and a TensorBoard writer thread, which would otherwise live as long as the process (one per
        estimator and directory: a notebook or a sweep making many estimators piled them up). A writer
        written to again reopens, in a new event file of the same directory, as TensorBoard reads it."""
        for writer in self.writers.values():
            writer.close()

    # ------------------------------------------------------------------ optimizers and checkpoints
    def register_optimizers(self, optimizers: Mapping[str, torch.optim.Optimizer]) -> None:
        """Adopt the optimizers a spec's ``train_op`` names (checkpointed from now on)."""
        key = tuple(map(id, optimizers.values()))
        if key == self.registered_key:  # the same optimizers as the last step: nothing to do
            return
        self.registered_key = key
        check_sparse_gradient_support(self.module, optimizers)  # fails before step 1, naming the fix
        for name, opt in optimizers.items():
            if any(opt is known for known in self.optimizers.values()):
                continue
            if name in self.optimizers:
                name = f"{name}_{len(self.optimizers)}"
            self.optimizers[name] = opt
            if name in self.pending_optimizer_state:
                opt.load_state_dict(self.pending_optimizer_state.pop(name))

    def latest_checkpoint(self) -> str | None:
        """The newest checkpoint of ``model_dir`` that loads, or None."""
        return ckpt_lib.latest_checkpoint(self.model_dir)

    def has_checkpoint_at(self, step: int) -> bool:
        """Whether ``model_dir`` already holds the checkpoint of ``step``."""
        return (Path(self.model_dir) / f"{ckpt_lib.PREFIX}{step}").is_dir()

    def save(self, input_state: dict[str, Any] | None, rank_rng: dict[str, Any] | None = None) -> str:
        """Write the resident state as the checkpoint of ``global_step`` (on the chief); returns its path."""
        check_finite_before_save(self.module, self.optimizers, self.global_step, self.model_dir)
        opt_states = {name: opt.state_dict() for name, opt in self.optimizers.items()}
        opt_states.update({k: v for k, v in self.pending_optimizer_state.items() if k not in opt_states})
        path = ckpt_lib.save_checkpoint(
            self.model_dir,
            self.global_step,
            self.module.state_dict(),
            opt_states,
            input_state=input_state,
            keep_checkpoint_max=self.config.keep_checkpoint_max,
            keep_checkpoint_every_n_hours=self.config.keep_checkpoint_every_n_hours,
            rank_rng=rank_rng,
            shards=self.strategy.checkpoint_shards(),  # sharded tables: the ranks' shard files
        )
        self.resident_checkpoint = path
        return path

    def use_checkpoint(self, checkpoint_path: str | None) -> None:
        """Make the resident state the one ``evaluate`` / ``predict`` should use.

        Raises:
            CheckpointNotFoundError: nothing to load and the weights are the initial ones (unless
                ``RunConfig.allow_untrained``).
        """
        if checkpoint_path is None:
            self.restore_if_newer(for_training=False)
            has_weights = (
                self.resident_checkpoint is not None
                or self.global_step > 0
                or self.warm_started
                or self.weights_given
            )
            if not has_weights and not self.config.allow_untrained:
                raise nothing_to_load_error(self.model_dir)
            return
        state = ckpt_lib.load_checkpoint(checkpoint_path)
        if state.path != self.resident_checkpoint:
            self.apply(state, for_training=False)

    def restore_if_newer(self, for_training: bool) -> None:
        """Load the newest checkpoint of ``model_dir`` if it is not the resident one (else warm-start)."""
        newest = ckpt_lib.latest_checkpoint(self.model_dir, verify=False)
        if newest is None or newest == self.resident_checkpoint:
            if newest is None and self.warm_start_from is not None and self.resident_checkpoint is None:
                from torchestimator.warm_start import warm_start

                warm_start(self.module, self.warm_start_from)
                self.warm_start_from = None
                self.warm_started = True
            return
        # sharded tables: each rank reads its own rows when it shards them (not the full table here)
        deferred = for_training and self.strategy.reads_shard_files
        state = ckpt_lib.load_latest(self.model_dir, assemble_shards=not deferred)
        if state is None:
            if for_training:
                raise all_corrupt_error(self.model_dir)
            return
        if state.path == self.resident_checkpoint:
            return
        if self.resident_checkpoint is not None and state.global_step < self.global_step:
            return  # the resident model is ahead of what is on disk (e.g. checkpoints disabled)
        self.apply(state, for_training=for_training)

    def apply(self, state: ckpt_lib.CheckpointState, for_training: bool) -> None:
        """Make ``state`` the resident state (weights, optimizer slots, step; for training: what to resume)."""
        if self.prepare_state is not None:
            self.prepare_state(state.model)
        ckpt_lib.check_compatible(self.module, state.model, str(state.path))
        self.module.load_state_dict(state.model)
        self.pending_optimizer_state = {}
        for name, opt_state in state.optimizers.items():
            if name in self.optimizers:
                self.optimizers[name].load_state_dict(opt_state)
            else:
                self.pending_optimizer_state[name] = opt_state
        self.strategy.restored_from(state)  # sharded tables: where each rank reads its rows
        self.global_step = state.global_step
        self.resident_checkpoint = state.path
        if state.shards_deferred:  # sharded tables not in the module until training reads them
            self.resident_checkpoint = None
        if for_training:
            # applied by the train loop once the input iterator exists, so a resumed run draws the same
            # input order as an uninterrupted one and continues the same random stream after it
            self.resume_rng = state.rng
            self.resume_input = state.input
        logger.info("Restored %s (global_step %d).", state.path, state.global_step)


# Estimator's former private attribute -> the Runtime attribute that holds it now.
ESTIMATOR_ALIASES = {
    "_model_dir": "model_dir",
    "_config": "config",
    "_params": "params",
    "_strategy": "strategy",
    "_module": "module",
    "_caller": "caller",
    "_transform": "transform",
    "_optimizers": "optimizers",
    "_pending_optimizer_state": "pending_optimizer_state",
    "_global_step": "global_step",
    "_resident_checkpoint": "resident_checkpoint",
    "_resume_input": "resume_input",
    "_resume_rng": "resume_rng",
    "_warm_start_from": "warm_start_from",
    "_warm_started": "warm_started",
    "_weights_given": "weights_given",
    "_writers": "writers",
    "_host_stream": "host_stream",
    "_batches": "input_stream",
    "_to_device": "to_device",
    "_train_writer": "train_writer",
    "_writer": "writer",
    "_register_optimizers": "register_optimizers",
    "_has_checkpoint_at": "has_checkpoint_at",
    "_save": "save",
    "_use_checkpoint": "use_checkpoint",
    "_restore_if_newer": "restore_if_newer",
    "_apply": "apply",
}
