"""Building a function model_fn's layers before the Estimator needs its parameters (see :mod:`torchestimator.function_model`).

One forward on the first batch of the call's input_fn, in the call's mode, in a building scope (no gradients,
no running-metric or moving-average update, no summary). An input_fn that hands out one shared one-shot
iterator gets that batch back in front of its next call, so no batch is lost to the build.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import torch

from torchestimator.errors import ModelFnError
from torchestimator.estimator._runtime import Runtime, open_stream
from torchestimator.function_model import FunctionModelFn

__all__ = ["build_function_model"]

_MISSING = object()


class _FirstRecorded:
    """Iterates a one-shot iterator, keeping its first element (so it can be given back after the build)."""

    def __init__(self, it: Iterator[Any]) -> None:
        self._it = it
        self.first: Any = _MISSING

    def __iter__(self) -> _FirstRecorded:
        return self

    def __next__(self) -> Any:
        item = next(self._it)
        if self.first is _MISSING:
            self.first = item
        return item


def _build_input(input_fn: Callable[..., Any]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``(for_build, for_loop)``: ``for_build`` calls ``input_fn`` and records a one-shot iterator it returns;
    ``for_loop`` calls it again and, if it returns that same iterator, puts the build's batch back in front
    (once), so an input_fn that hands out one shared iterator loses no batch to the build."""
    seen: dict[str, Any] = {}

    @functools.wraps(input_fn)
    def for_build(*args: Any, **kwargs: Any) -> Any:
        result = input_fn(*args, **kwargs)
        if isinstance(result, Iterator) and iter(result) is result:
            seen["object"], seen["recorded"] = result, _FirstRecorded(result)
            return seen["recorded"]
        return result

    @functools.wraps(input_fn)
    def for_loop(*args: Any, **kwargs: Any) -> Any:
        result = input_fn(*args, **kwargs)
        recorded = seen.pop("recorded", None)
        if recorded is not None and result is seen.pop("object") and recorded.first is not _MISSING:
            return itertools.chain([recorded.first], result)
        return result

    return for_build, for_loop


def build_function_model(rt: Runtime, input_fn: Callable[..., Any] | None, mode: str) -> Any:
    """Build a :class:`FunctionModelFn` that has not been built yet from ``input_fn``'s first batch.

    A no-op for any other model (and for a built one). Afterwards the Estimator's host column transform
    covers the columns of the layers just built.

    Returns:
        The input_fn the loop should call: ``input_fn`` itself, or (when it returned a one-shot iterator
        to the build) a wrapper that gives the build's batch back.

    Raises:
        ModelFnError: ``input_fn`` yields nothing to build the model from, or is None for an unbuilt model.
    """
    module = rt.module
    if not isinstance(module, FunctionModelFn):
        return input_fn
    module.global_step_fn = lambda: rt.global_step  # te.compat.v1.train.get_global_step()
    if module.built:
        return input_fn
    if input_fn is None:
        raise ModelFnError(
            f"the function model_fn {module.fn_name!r} has not been built yet (it builds its layers on the first "
            "batch); train, evaluate or predict once in this process before exporting."
        )
    for_build, for_loop = _build_input(input_fn)
    with open_stream(rt.input_stream(for_build, mode)) as stream:
        batch = next(iter(stream), None)
    if batch is None:
        raise ModelFnError(
            f"input_fn yielded no batch to build the function model_fn {module.fn_name!r} from (mode {mode!r})."
        )
    features, labels = rt.to_device(batch)
    was_training = module.training
    with torch.no_grad():
        module.call(features, labels, mode, building=True)
    module.train(was_training)
    from torchestimator.columns import find_host_transform

    rt.transform = find_host_transform(module)
    return for_loop
