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
from torchestimator.hooks.base import Hook, RunContext
from torchestimator.metrics.base import Mean, Metric
from torchestimator.model_fn import eval_mode
from torchestimator.spec import ModeKeys

if TYPE_CHECKING:
    from torchestimator.estimator import Estimator

__all__ = ["run_evaluation"]

_RESERVED = ("loss", "global_step")
logger = logging.getLogger(__name__)


def results_line(results: dict[str, Any]) -> str:
    """TF's rendering of an eval dict: ``accuracy = 0.5, global_step = 20, loss = 0.69`` (sorted keys)."""
    return ", ".join(f"{k} = {v}" for k, v in sorted(results.items()) if not isinstance(v, bytes))


def run_evaluation(
    est: Estimator,
    input_fn: Callable[..., Any],
    steps: int | None,
    hooks: Sequence[Hook],
    name: str | None,
    checkpoint_path: str | None,
) -> dict[str, Any]:
    module = est._module
    ctx = RunContext(estimator=est, mode=ModeKeys.EVAL, global_step=est._global_step)
    hooks = list(hooks)
    for h in hooks:
        h.begin(ctx)
    loss_sum = torch.zeros((), dtype=torch.float64, device=est._strategy.device)
    n_batches = 0
    totals: dict[str, Metric] = {}
    stream = est._batches(input_fn, ModeKeys.EVAL)
    first = True
    try:
        with eval_mode(module):
            for batch in stream:
                features, labels = est._to_device(batch)
                ctx.features, ctx.labels = features, labels
                for h in hooks:
                    h.before_step(ctx)
                spec = est._caller(module, features, labels, ModeKeys.EVAL)
                if first:
                    first = False
                    for h in spec.evaluation_hooks:
                        h.begin(ctx)
                    hooks.extend(spec.evaluation_hooks)
                loss_sum += spec.loss_tensor.detach().reshape(()).double()
                n_batches += 1
                for key, value in (spec.eval_metric_ops or {}).items():
                    if key in _RESERVED:
                        raise InvalidArgumentError(
                            f"eval_metric_ops may not use the reserved name {key!r} (the Estimator adds it); rename it."
                        )
                    if isinstance(value, tuple) and not isinstance(value, Metric):  # issue 14: no silent mean
                        from torchestimator.compat.v1.metrics import tuple_metric_error

                        raise tuple_metric_error(key, value)
                    metric = (
                        value
                        if isinstance(value, Metric)
                        else Mean(torch.as_tensor(value).detach().reshape(-1).mean())
                    )
                    totals[key] = metric if key not in totals else totals[key].merge(metric)
                ctx.loss, ctx.spec = spec.loss_tensor.detach(), spec
                for h in hooks:
                    h.after_step(ctx)
                if ctx.stop_requested or (steps is not None and n_batches >= steps):
                    break
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    # one reduction across processes for everything, in a fixed (sorted) order on every rank
    names = sorted(totals)
    flat = [loss_sum, torch.tensor(float(n_batches), dtype=torch.float64, device=loss_sum.device)]
    for key in names:
        flat.extend(s.to(loss_sum.device) for s in totals[key].state)
    est._strategy.all_reduce_sum(flat)
    loss_total, count = float(flat[0]), float(flat[1])
    results: dict[str, Any] = {}
    i = 2
    for key in names:
        k = len(totals[key].state)
        results[key] = totals[key].compute(flat[i : i + k])
        i += k
    results["loss"] = loss_total / count if count else float("nan")
    results["global_step"] = est._global_step
    if est._strategy.is_chief:
        writer = est._writer(est.eval_dir(name))
        writer.scalars(
            {k: v for k, v in results.items() if k != "global_step" and isinstance(v, (int, float))},
            est._global_step,
        )
        if checkpoint_path:
            writer.text("checkpoint_path", str(checkpoint_path), est._global_step)
        writer.flush()
        logger.info("Saving dict for global step %d: %s", est._global_step, results_line(results))
    ctx.results = results
    for h in hooks:
        h.end(ctx)
    return results
