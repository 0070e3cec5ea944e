"""Hooks: small objects the loops call at named events.

Firing order of one ``Estimator.train`` call (pinned by ``tests/hooks/test_firing_order.py``):

========================================  ======================================================
event                                     when
========================================  ======================================================
``Hook.begin(ctx)``                       after the model is restored, before the first step;
                                          built-in hooks, then ``hooks=``, then chief hooks
``CheckpointSaverListener.begin()``       right after the hooks' ``begin``
(initial checkpoint)                      when ``model_dir`` has none at the current step
``Hook.before_step(ctx)``                 before each forward
``Hook.after_step(ctx)``                  after backward, optimizer step and ``global_step += 1``
``Hook.before_save(ctx)``                 before a checkpoint is written (every hook)
``Listener.before_save(step)``            then every saving listener
(checkpoint written)
``Listener.after_save(step)``             a listener returning ``True`` requests a stop
``Hook.after_save(ctx, path)``            every hook
``Hook.end(ctx)``                         after the last step and the final checkpoint
``Listener.end(step)``                    last
========================================  ======================================================

A model_fn's ``EstimatorSpec.training_hooks`` are only known after its first forward: they ``begin``
then, before that step's ``after_step``. ``evaluate`` and ``predict`` fire ``begin``,
``before_step`` / ``after_step`` per batch and ``end`` (with ``ctx.results`` set by ``evaluate``).
Any hook may call ``ctx.request_stop()``; the loop stops after the current step.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

__all__ = ["CheckpointSaverListener", "Hook", "RunContext"]


@dataclasses.dataclass
class RunContext:
    """What a hook sees: the estimator, the mode, the step and the latest step's values.

    ``loss`` is the last step's loss as a tensor (call ``float(ctx.loss)`` only when you need it:
    on an accelerator that waits for the device).
    """

    estimator: Any
    mode: str
    global_step: int = 0
    loss: torch.Tensor | None = None
    spec: Any = None
    features: Any = None
    labels: Any = None
    results: dict[str, Any] | None = None
    stop_requested: bool = False
    save_vetoed: bool = False

    def request_stop(self) -> None:
        """Ask the loop to stop after the current step."""
        self.stop_requested = True

    def veto_save(self) -> None:
        """From ``before_save``: do not write this checkpoint (and none after it in this call)."""
        self.save_vetoed = True


class Hook:
    """Base class: override the events you need (all default to doing nothing)."""

    def begin(self, ctx: RunContext) -> None:
        """Before the first step."""

    def before_step(self, ctx: RunContext) -> None:
        """Before each forward."""

    def after_step(self, ctx: RunContext) -> None:
        """After each step (TRAIN: after the optimizer step and the global_step increment)."""

    def before_save(self, ctx: RunContext) -> None:
        """Before a checkpoint is written."""

    def after_save(self, ctx: RunContext, checkpoint_path: str) -> None:
        """After a checkpoint is written."""

    def end(self, ctx: RunContext) -> None:
        """After the last step (and the final checkpoint)."""


class CheckpointSaverListener:
    """tf.estimator's CheckpointSaverListener: called around each checkpoint save."""

    def begin(self) -> None:
        """Once, before the first save of a train call."""

    def before_save(self, global_step: int) -> None:
        """Before each save."""

    def after_save(self, global_step: int) -> bool | None:
        """After each save; return ``True`` to stop training."""
        return None

    def end(self, global_step: int) -> None:
        """After the last save of a train call."""
