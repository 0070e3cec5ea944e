"""The prediction loop behind ``Estimator.predict``: per-example (or per-batch) numpy predictions."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.estimator._runtime import fire_hooks, open_stream
from torchestimator.hooks.base import Hook
from torchestimator.model_fn import eval_mode
from torchestimator.spec import ModeKeys

if TYPE_CHECKING:
    from torchestimator.estimator._runtime import Runtime

__all__ = ["run_prediction"]


def _to_numpy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)):
        return np.asarray(value)
    return value


def run_prediction(
    rt: Runtime,
    input_fn: Callable[..., Any],
    predict_keys: Sequence[str] | None,
    hooks: Sequence[Hook],
    yield_single_examples: bool,
) -> Iterator[Any]:
    """Yield the resident module's predictions on ``input_fn`` (per example or per batch)."""
    module = rt.module
    ctx = rt.context(ModeKeys.PREDICT)
    hooks = list(hooks)
    fire_hooks(hooks, "begin", ctx)
    first = True
    with open_stream(rt.input_stream(input_fn, ModeKeys.PREDICT)) as stream:
        for features, _labels in stream:
            features = rt.to_device(features)
            ctx.features = features
            fire_hooks(hooks, "before_step", ctx)
            with eval_mode(module):
                spec = rt.caller(module, features, None, ModeKeys.PREDICT)
            out = _selected(spec.predictions, predict_keys)
            ctx.spec = spec
            if first:  # spec.prediction_hooks join after the first forward (as evaluation_hooks)
                first = False
                fire_hooks(spec.prediction_hooks, "begin", ctx)
                hooks.extend(spec.prediction_hooks)
            fire_hooks(hooks, "after_step", ctx)
            if not yield_single_examples:
                yield out
            else:
                yield from _examples(out)
            if ctx.stop_requested:
                break
    fire_hooks(hooks, "end", ctx)


def _selected(preds: Any, predict_keys: Sequence[str] | None) -> Any:
    """The predictions ``predict_keys`` names (all if None), as numpy."""
    if not isinstance(preds, Mapping):
        return _to_numpy(preds)
    if predict_keys is not None:
        missing = [k for k in predict_keys if k not in preds]
        if missing:
            raise InvalidArgumentError(
                f"predict_keys {missing} are not in the predictions; available keys: {sorted(preds)}."
            )
        preds = {k: preds[k] for k in predict_keys}
    return {k: _to_numpy(v) for k, v in preds.items()}


def _examples(out: Any) -> Iterator[Any]:
    """One batch's predictions split into examples."""
    if not isinstance(out, dict):
        yield from out
        return
    sizes = {k: len(v) for k, v in out.items()}
    if len(set(sizes.values())) > 1:
        raise InvalidArgumentError(
            "Batch length of predictions should be same; with yield_single_examples=True every "
            f"prediction must have the same first dimension, received {sizes}. Use "
            "yield_single_examples=False."
        )
    n = next(iter(sizes.values()), 0)
    for i in range(n):
        yield {k: v[i] for k, v in out.items()}
