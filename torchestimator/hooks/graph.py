"""The model graph in TensorBoard's Graphs tab, written once, opt-in (TF writes its graph to ``model_dir``).

TF's Estimator writes the training graph into the event file of ``model_dir``. Here a PyTorch model has no
graph until it runs, so :class:`GraphSummaryHook` traces the model's prediction path once, on the first
batch of ``train``, and writes that trace (``torch.utils.tensorboard``'s ``add_graph``) to an event file in
``model_dir``::

    est.train(input_fn, max_steps=1000, hooks=[te.hooks.GraphSummaryHook()])
    # tensorboard --logdir model_dir   -> Graphs tab

The graph is the network up to its ``logits`` (all tensor predictions when there are no logits). The
trace runs in eval mode under ``torch.no_grad`` and the train mode is restored after it, so it changes
neither BatchNorm statistics nor the random stream: training is bit-identical with or without the hook.
Only the chief writes. A model that cannot be traced (features that are not tensors, e.g. string columns,
or control flow the tracer refuses) logs a warning naming the reason and training goes on.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

import torch

from torchestimator.hooks.base import Hook, RunContext
from torchestimator.spec import ModeKeys

__all__ = ["GraphSummaryHook"]

logger = logging.getLogger("torchestimator")


class _PredictionPath(torch.nn.Module):
    """The model_fn module in PREDICT mode, returning its tensor predictions (what the tracer can follow)."""

    def __init__(self, estimator: Any) -> None:
        super().__init__()
        self.model = estimator.model
        self._caller = estimator._caller

    def forward(self, features: Any) -> dict[str, torch.Tensor]:
        spec = self._caller(self.model, features, None, ModeKeys.PREDICT)
        predictions = (
            spec.predictions if isinstance(spec.predictions, dict) else {"predictions": spec.predictions}
        )
        if isinstance(predictions.get("logits"), torch.Tensor):
            # the network up to its logits: a head's post-processing (class strings through numpy) is not a
            # graph the tracer can check
            return {"logits": predictions["logits"]}
        return {k: v for k, v in predictions.items() if isinstance(v, torch.Tensor)}


def _traceable(features: Any) -> bool:
    if isinstance(features, torch.Tensor):
        return True
    if isinstance(features, dict):
        return all(isinstance(v, torch.Tensor) for v in features.values())
    return False


class GraphSummaryHook(Hook):
    """Write the model's graph to ``model_dir`` once, after the first training step (TensorBoard's Graphs tab).

    Args:
        logdir: where to write (default: the estimator's ``model_dir``, beside the train summaries).

    Example:
        >>> hook = GraphSummaryHook()  # est.train(input_fn, steps=100, hooks=[hook])
    """

    def __init__(self, logdir: str | None = None) -> None:
        self.logdir = logdir
        self.written = False

    def after_step(self, ctx: RunContext) -> None:
        if self.written or ctx.mode != ModeKeys.TRAIN:
            return
        self.written = True  # one attempt per hook, whatever its outcome
        est = ctx.estimator
        strategy = getattr(est, "_strategy", None)
        if not (strategy.is_chief if strategy is not None else est.config.is_chief):
            return
        if not _traceable(ctx.features):
            logger.warning(
                "GraphSummaryHook: no graph written: the features are %s, not tensors (the tracer follows "
                "tensors only; string or sparse columns cannot be traced).",
                type(ctx.features).__name__
                if not isinstance(ctx.features, dict)
                else {k: type(v).__name__ for k, v in ctx.features.items()},
            )
            return
        self._write(est, ctx.features)

    def _write(self, est: Any, features: Any) -> None:
        from torch.utils.tensorboard import SummaryWriter

        module = est.model
        was_training = module.training
        logdir = self.logdir or est.model_dir
        os.makedirs(logdir, exist_ok=True)
        writer = SummaryWriter(log_dir=logdir, filename_suffix=".graph")
        try:
            module.eval()
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)  # numpy in a head: not our graph
                # torch 2.13 deprecates the torch.jit.trace that add_graph uses; not the user's concern
                warnings.filterwarnings(
                    "ignore", message=r".*torch\.jit\.trace.*", category=DeprecationWarning
                )
                warnings.filterwarnings("ignore", message=r".*torch\.jit\.trace.*", category=FutureWarning)
                writer.add_graph(_PredictionPath(est), (features,), use_strict_trace=False)
        except Exception as err:  # the tracer refuses many things; the graph is optional
            logger.warning(
                "GraphSummaryHook: no graph written: tracing the model failed (%s: %s).",
                type(err).__name__,
                str(err).splitlines()[0] if str(err) else "",
            )
        finally:
            module.train(was_training)
            writer.close()
