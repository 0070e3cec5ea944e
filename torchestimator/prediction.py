"""The prediction loop behind ``Estimator.predict``: per-example (or per-batch) numpy predictions."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.hooks.base import Hook, RunContext
from torchestimator.model_fn import eval_mode
from torchestimator.spec import ModeKeys

if TYPE_CHECKING:
    from torchestimator.estimator import Estimator

__all__ = ["run_prediction"]


def _to_numpy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)):
        return np.asarray(value)
    return value


def run_prediction(
    est: Estimator,
    input_fn: Callable[..., Any],
    predict_keys: Sequence[str] | None,
    hooks: Sequence[Hook],
    yield_single_examples: bool,
) -> Iterator[Any]:
    module = est._module
    ctx = RunContext(estimator=est, mode=ModeKeys.PREDICT, global_step=est._global_step)
    hooks = list(hooks)
    for h in hooks:
        h.begin(ctx)
    stream = est._batches(input_fn, ModeKeys.PREDICT)
    first = True
    try:
        for features, _labels in stream:
            features = est._to_device(features)
            ctx.features = features
            for h in hooks:
                h.before_step(ctx)
            with eval_mode(module):
                spec = est._caller(module, features, None, ModeKeys.PREDICT)
            preds = spec.predictions
            if isinstance(preds, Mapping):
                if predict_keys is not None:
                    missing = [k for k in predict_keys if k not in preds]
                    if missing:
                        raise InvalidArgumentError(
                            f"predict_keys {missing} are not in the predictions; available keys: {sorted(preds)}."
                        )
                    preds = {k: preds[k] for k in predict_keys}
                out: Any = {k: _to_numpy(v) for k, v in preds.items()}
            else:
                out = _to_numpy(preds)
            ctx.spec = spec
            if first:  # issue 14: spec.prediction_hooks join after the first forward (as evaluation_hooks)
                first = False
                for h in spec.prediction_hooks:
                    h.begin(ctx)
                hooks.extend(spec.prediction_hooks)
            for h in hooks:
                h.after_step(ctx)
            if not yield_single_examples:
                yield out
            elif isinstance(out, dict):
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
            else:
                yield from out
            if ctx.stop_requested:
                break
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    for h in hooks:
        h.end(ctx)
