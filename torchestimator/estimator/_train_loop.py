"""The training loop behind ``Estimator.train``: one place for backward, optimizer steps, hooks,
checkpoints and summaries.

Per step: ``before_step`` hooks → forward (autocast if configured) → ``zero_grad`` / ``backward`` /
clip / ``step`` of every optimizer named by the spec's ``train_op`` → ``global_step += 1`` →
``after_step`` hooks → checkpoint when due → stop agreement across processes. Nothing here reads a
value back from the device except where a hook asks for it (logging, summaries, the NaN check).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.estimator._runtime import fire_hooks, open_stream
from torchestimator.hooks.base import CheckpointSaverListener, Hook, RunContext
from torchestimator.hooks.basic import (
    HParamsHook,
    LoggingHook,
    NanTensorHook,
    ProgressBarHook,
    StopAtStepHook,
    SummarySaverHook,
)
from torchestimator.hooks.checkpoint_saver import find_checkpoint_saver
from torchestimator.input_fn import Batch, to_device
from torchestimator.progress import progress_wanted
from torchestimator.rng import restore_rng, rng_state_json, training_input_seed
from torchestimator.spec import ModeKeys

if TYPE_CHECKING:
    from torchestimator.estimator._runtime import Runtime

__all__ = ["run_training"]

logger = logging.getLogger("torchestimator")


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """The autocast context for ``RunConfig.precision`` ('32' disables it)."""
    if precision == "32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _builtin_hooks(rt: Runtime, user_hooks: Sequence[Hook], last_step: int | None) -> list[Hook]:
    cfg = rt.config
    hooks: list[Hook] = []
    if not any(isinstance(h, NanTensorHook) for h in user_hooks):
        hooks.append(NanTensorHook())
    if last_step is not None:
        hooks.append(StopAtStepHook(last_step=last_step))
    if rt.is_chief:
        if progress_wanted(cfg.progress_bar):
            hooks.append(ProgressBarHook(total=last_step))
        if cfg.log_step_count_steps:
            hooks.append(LoggingHook(cfg.log_step_count_steps, writer=rt.train_writer()))
        if cfg.save_summary_steps:
            hooks.append(SummarySaverHook(cfg.save_summary_steps, rt.train_writer()))
            hooks.append(HParamsHook(rt.train_writer()))
    return hooks


class _Checkpointer:
    """Decides when to save (steps or secs cadence) and fires the save events around it.

    Every rank takes part in a save (its RNG state is gathered to the chief, which writes), so every
    rank must agree on when: the steps cadence is the same everywhere; under DDP the secs cadence is
    the chief's clock, carried to the other ranks by the per-step agreement and acted on after the
    next step.
    """

    def __init__(
        self,
        rt: Runtime,
        hooks: list[Hook],
        listeners: Sequence[CheckpointSaverListener],
        last_step: int | None,
        input_seed: int,
        own_saver: bool = True,
    ) -> None:
        self.rt, self.hooks, self.listeners, self.last_step = rt, hooks, listeners, last_step
        self.input_seed = input_seed
        cfg = rt.config
        self.enabled = cfg.checkpointing_enabled and own_saver
        self.writes = rt.is_chief
        self.distributed = rt.strategy.world_size > 1
        self.steps, self.secs = cfg.save_checkpoints_steps, cfg.save_checkpoints_secs
        self.last_saved_step: int | None = None
        self.last_time = time.monotonic()
        self.secs_agreed = False  # DDP secs cadence: the chief's clock fired (agreed at the top of the step)

    @property
    def agrees_on_clock(self) -> bool:
        """Whether the per-step agreement carries the chief's save clock (DDP with the secs cadence)."""
        return self.enabled and self.distributed and not self.steps

    def clock_fired(self) -> bool:
        """On the chief: the secs cadence is due (the flag it contributes to the per-step agreement)."""
        return self.writes and time.monotonic() - self.last_time >= float(self.secs or 0)

    def due(self, step: int) -> bool:
        if not self.enabled or step == self.last_saved_step:
            return False
        if self.steps:
            return step % self.steps == 0
        if self.distributed:
            return self.secs_agreed
        return time.monotonic() - self.last_time >= float(self.secs or 0)

    def save(self, ctx: RunContext, batches_consumed: int, completed: bool) -> None:
        strategy = self.rt.strategy
        strategy.sync_to_module(self.rt.model_dir, ctx.global_step)  # sharded tables: shard files
        ranks = strategy.gather_json(rng_state_json()) if self.distributed else []
        self.last_saved_step, self.last_time, self.secs_agreed = ctx.global_step, time.monotonic(), False
        if not self.writes:
            return
        fire_hooks(self.hooks, "before_save", ctx)
        if ctx.save_vetoed:
            return
        for listener in self.listeners:
            listener.before_save(ctx.global_step)
        input_state = (
            None
            if completed
            else {
                "last_step": self.last_step,
                "batches_consumed": batches_consumed,
                "shuffle_seed": self.input_seed,
            }
        )
        rank_rng = {str(r): state for r, state in enumerate(ranks)} if len(ranks) > 1 else None
        path = self.rt.save(input_state, rank_rng)
        for listener in self.listeners:
            if listener.after_save(ctx.global_step):
                ctx.request_stop()
        fire_hooks(self.hooks, "after_save", ctx, path)


def run_training(
    rt: Runtime,
    input_fn: Any,
    user_hooks: Sequence[Hook],
    last_step: int | None,
    listeners: Sequence[CheckpointSaverListener],
    skip_batches: int = 0,
    input_seed: int = 0,
) -> None:
    """Train until ``last_step``, a stop request, or the end of the input.

    ``input_seed`` seeds the shuffles the input leaves unseeded (recorded in each checkpoint, so a
    resumed call replays the same order); ``skip_batches`` are the batches the interrupted call had
    already trained on.
    """
    with (
        training_input_seed(input_seed, rt.strategy.rank),
        open_stream(rt.input_stream(input_fn, ModeKeys.TRAIN, skip_batches)) as stream,
    ):
        _train_steps(rt, stream, user_hooks, last_step, listeners, skip_batches, input_seed)


def _train_steps(
    rt: Runtime,
    stream: Iterator[Batch],
    user_hooks: Sequence[Hook],
    last_step: int | None,
    listeners: Sequence[CheckpointSaverListener],
    skip_batches: int,
    input_seed: int,
) -> None:
    strategy, module, cfg = rt.strategy, rt.module, rt.config
    device = strategy.device
    hooks = [*_builtin_hooks(rt, user_hooks, last_step), *user_hooks]
    saver = find_checkpoint_saver(
        user_hooks
    )  # TF: a user's CheckpointSaverHook replaces the Estimator's saver
    if saver is not None:
        saver.add_listeners(listeners)  # ... and takes its saving_listeners
        listeners = ()
    ckpt = _Checkpointer(rt, hooks, listeners, last_step, input_seed, own_saver=saver is None)
    ctx = rt.context(ModeKeys.TRAIN)
    scaler = torch.amp.GradScaler(device.type) if cfg.precision == "fp16" and device.type == "cuda" else None
    module.train()
    # sharded tables: the optimizers (with any restored state) must exist before wrap
    rt.register_optimizers(strategy.prepare(module, cfg))
    train_module = strategy.wrap(module)  # under DDP this reseeds per rank; a resumed run then restores:
    if rt.resume_rng:
        restore_rng(rt.resume_rng, strategy.rank, strategy.world_size)
        rt.resume_rng = None
    fire_hooks(hooks, "begin", ctx)
    for listener in listeners:
        listener.begin()
    if ckpt.enabled and strategy.agree(ckpt.writes and not rt.has_checkpoint_at(ctx.global_step)):
        ckpt.save(ctx, skip_batches, completed=False)

    consumed, steps_made, first = skip_batches, 0, True
    while True:
        # one agreement per step: a stop request or the end of input on any rank stops every rank
        batch = None if ctx.stop_requested else next(stream, None)
        if ckpt.agrees_on_clock:
            end, ckpt.secs_agreed = strategy.agree_all([batch is None, ckpt.clock_fired()])
        else:
            end = strategy.agree(batch is None)
        if end:
            break
        assert batch is not None
        consumed += 1
        features, labels = to_device(batch, device)
        ctx.features, ctx.labels = features, labels
        fire_hooks(hooks, "before_step", ctx)
        with autocast(device, cfg.precision):
            spec = rt.caller(train_module, features, labels, ModeKeys.TRAIN)
        if first:
            first = False
            extra = [*spec.training_hooks, *(spec.training_chief_hooks if rt.is_chief else ())]
            fire_hooks(extra, "begin", ctx)
            hooks.extend(extra)
        _apply_train_op(rt, spec, scaler)
        rt.global_step += 1
        steps_made += 1
        ctx.global_step, ctx.loss, ctx.spec = rt.global_step, spec.loss_tensor.detach(), spec
        strategy.step_boundary()
        fire_hooks(hooks, "after_step", ctx)
        if ckpt.due(ctx.global_step):
            ckpt.save(ctx, consumed, completed=False)
    if steps_made == 0:
        logger.warning("Training with estimator made no steps. Perhaps input is empty or misspecified.")
    elif ctx.loss is not None:
        logger.info("Loss for final step: %s.", float(ctx.loss))
    if ckpt.enabled and ckpt.last_saved_step != ctx.global_step:
        ckpt.save(ctx, consumed, completed=True)
    strategy.barrier()  # every rank leaves train() after the chief's final checkpoint exists
    fire_hooks(hooks, "end", ctx)
    for listener in listeners:
        listener.end(ctx.global_step)
    # sharded tables: the module is whole again, gathered (no checkpoint) or reloaded from the final checkpoint
    if strategy.finish_train(saved=ckpt.enabled):
        rt.resident_checkpoint = None


def _apply_train_op(rt: Runtime, spec: Any, scaler: Any) -> None:
    """zero_grad / backward / clip / step for the optimizers of ``spec.train_op`` (or call it)."""
    optimizers = spec.optimizers()
    if not optimizers:  # a callable train_op owns backward and step
        spec.train_op(spec.loss)
        return
    rt.register_optimizers(optimizers)
    for opt in optimizers.values():
        opt.zero_grad(set_to_none=True)
    loss = spec.loss.reshape(())
    if scaler is not None:
        scaler.scale(loss).backward()
    else:
        loss.backward()
    clip = rt.config.gradient_clip_norm
    if clip is not None:
        params = [
            p
            for opt in optimizers.values()
            for g in opt.param_groups
            for p in g["params"]
            if p.grad is not None
        ]
        if any(p.grad.is_sparse for p in params):
            raise InvalidArgumentError(
                "gradient_clip_norm cannot clip sparse gradients (sparse embedding tables); unset it or use dense "
                "embeddings."
            )
        if scaler is not None:
            for opt in optimizers.values():
                scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(params, clip)
    for opt in optimizers.values():
        if scaler is not None:
            scaler.step(opt)
        else:
            opt.step()
    if scaler is not None:
        scaler.update()
