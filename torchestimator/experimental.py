"""``tf.estimator.experimental``'s names: early-stopping hooks, in-memory evaluation, supervised receivers.

The ``stop_if_*`` hooks read the eval event files of ``estimator.eval_dir()`` (or ``eval_dir``), as TF's do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.export.supervised_receivers import build_raw_supervised_input_receiver_fn
from torchestimator.hooks.basic import InMemoryEvaluatorHook
from torchestimator.hooks.early_stopping import (
    make_early_stopping_hook,
    stop_if_higher_hook,
    stop_if_lower_hook,
    stop_if_no_decrease_hook,
    stop_if_no_increase_hook,
)
from torchestimator.hooks.stop_at_checkpoint import make_stop_at_checkpoint_step_hook
from torchestimator.premade import LinearSDCA, RNNClassifier, RNNEstimator

__all__ = [
    "InMemoryEvaluatorHook",
    "LinearSDCA",
    "RNNClassifier",
    "RNNEstimator",
    "build_raw_supervised_input_receiver_fn",
    "call_logit_fn",
    "make_early_stopping_hook",
    "make_stop_at_checkpoint_step_hook",
    "stop_if_higher_hook",
    "stop_if_lower_hook",
    "stop_if_no_decrease_hook",
    "stop_if_no_increase_hook",
]


def call_logit_fn(logit_fn: Callable[..., Any], features: Any, mode: str, params: Any, config: Any) -> Any:
    """Call ``logit_fn(features=..., [mode], [params], [config])`` with the arguments it names (as TF).

    Returns:
        The logits: a tensor, or a dict of string -> tensor.

    Raises:
        InvalidArgumentError: the result is neither (TF's ``ValueError`` message).
    """
    import inspect

    try:
        names = set(inspect.signature(logit_fn).parameters)
    except (TypeError, ValueError):
        names = set()
    extra = {"mode": mode, "params": params, "config": config}
    results = logit_fn(features=features, **{k: v for k, v in extra.items() if k in names})
    valid_dict = isinstance(results, Mapping) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in results.items()
    )
    if not (valid_dict or isinstance(results, torch.Tensor)):
        raise InvalidArgumentError(
            "logit_fn should return a Tensor or a dictionary mapping strings to Tensors.  logit_fn returned: "
            f"{results}"
        )
    return results
