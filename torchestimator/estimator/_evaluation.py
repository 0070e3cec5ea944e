"""The evaluation loop behind ``Estimator.evaluate``.

Per batch: forward in EVAL mode under ``no_grad``; the batch loss and every ``eval_metric_ops``
entry are accumulated on the device as additive states (a scalar tensor counts as a per-batch
mean). After the last batch the states are summed across processes once, the metrics computed, and
``loss`` (mean of the batch losses) and ``global_step`` added, as TF does. The chief writes the
results to ``eval_dir(name)`` at the global step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.estimator._runtime import fire_hooks, open_stream
from torchestimator.hooks.base import Hook, RunContext
from torchestimator.metrics.base import Metric
from torchestimator.metrics.external import as_metric, reset_module_metrics
from torchestimator.model_fn import eval_mode
from torchestimator.spec import ModeKeys

if TYPE_CHECKING:
    from torchestimator.estimator._runtime import Runtime

__all__ = ["run_evaluation"]

_RESERVED = ("loss", "global_step")
logger = logging.getLogger("torchestimator.evaluation")  # its name before the move into estimator/


def results_line(results: dict[str, Any]) -> str:
    """TF's rendering of an eval dict: ``accuracy = 0.5, global_step = 20, loss = 0.69`` (sorted keys)."""
    return ", ".join(f"{k} = {v}" for k, v in sorted(results.items()) if not isinstance(v, bytes))


def run_evaluation(
    rt: Runtime,
    input_fn: Callable[..., Any],
    steps: int | None,
    hooks: Sequence[Hook],
    name: str | None,
    checkpoint_path: str | None,
) -> dict[str, Any]:
    """Evaluate the resident module on ``input_fn`` as it is (the one evaluation loop).

    ``Estimator.evaluate`` picks the checkpoint first; ``train_and_evaluate`` and
    ``InMemoryEvaluatorHook`` evaluate the live module. ``checkpoint_path`` is only recorded in the
    summaries.
    """
    ctx = rt.context(ModeKeys.EVAL)
    hooks = list(hooks)
    fire_hooks(hooks, "begin", ctx)
    loss_sum, n_batches, totals = _accumulate(rt, input_fn, steps, hooks, ctx)
    results = _reduce(rt, loss_sum, n_batches, totals)
    if rt.is_chief:
        writer = rt.writer(rt.eval_dir(name))
        writer.scalars(
            {k: v for k, v in results.items() if k != "global_step" and isinstance(v, (int, float))},
            rt.global_step,
        )
        if checkpoint_path:
            writer.text("checkpoint_path", str(checkpoint_path), rt.global_step)
        writer.flush()
        logger.info("Saving dict for global step %d: %s", rt.global_step, results_line(results))
    ctx.results = results
    fire_hooks(hooks, "end", ctx)
    return results


def _accumulate(
    rt: Runtime, input_fn: Callable[..., Any], steps: int | None, hooks: list[Hook], ctx: RunContext
) -> tuple[torch.Tensor, int, dict[str, Metric]]:
    """Run the batches: the summed loss, the batch count and the merged metric states (on the device)."""
    module = rt.module
    loss_sum = torch.zeros((), dtype=torch.float64, device=rt.strategy.device)
    n_batches = 0
    totals: dict[str, Metric] = {}
    reset_module_metrics(module)  # torchmetrics metrics start each evaluation empty
    first = True
    with open_stream(rt.input_stream(input_fn, ModeKeys.EVAL)) as stream, eval_mode(module):
        for batch in stream:
            features, labels = rt.to_device(batch)
            ctx.features, ctx.labels = features, labels
            fire_hooks(hooks, "before_step", ctx)
            spec = rt.caller(module, features, labels, ModeKeys.EVAL)
            if first:
                first = False
                fire_hooks(spec.evaluation_hooks, "begin", ctx)
                hooks.extend(spec.evaluation_hooks)
            loss_sum += spec.loss_tensor.detach().reshape(()).double()
            n_batches += 1
            for key, value in (spec.eval_metric_ops or {}).items():
                if key in _RESERVED:
                    raise InvalidArgumentError(
                        f"eval_metric_ops may not use the reserved name {key!r} (the Estimator adds it); rename it."
                    )
                metric = as_metric(key, value)  # te.metrics objects, torchmetrics metrics, scalars
                totals[key] = metric if key not in totals else totals[key].merge(metric)
            ctx.loss, ctx.spec = spec.loss_tensor.detach(), spec
            fire_hooks(hooks, "after_step", ctx)
            if ctx.stop_requested or (steps is not None and n_batches >= steps):
                break
    return loss_sum, n_batches, totals


def _reduce(rt: Runtime, loss_sum: torch.Tensor, n_batches: int, totals: dict[str, Metric]) -> dict[str, Any]:
    """One reduction across processes for everything, in a fixed (sorted) order on every rank."""
    names = sorted(totals)
    flat = [loss_sum, torch.tensor(float(n_batches), dtype=torch.float64, device=loss_sum.device)]
    for key in names:
        flat.extend(s.to(loss_sum.device) for s in totals[key].state)
    rt.strategy.all_reduce_sum(flat)
    loss_total, count = float(flat[0]), float(flat[1])
    results: dict[str, Any] = {}
    i = 2
    for key in names:
        k = len(totals[key].state)
        results[key] = totals[key].compute(flat[i : i + k])
        i += k
    results["loss"] = loss_total / count if count else float("nan")
    results["global_step"] = rt.global_step
    return results
