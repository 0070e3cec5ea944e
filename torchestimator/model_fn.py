"""Building the model_fn module once and calling it with the arguments it names.

``model_fn`` is an ``nn.Module`` subclass, a factory ``params -> nn.Module`` (it may also name
``config``), an ``nn.Module`` instance, or a TF-style function ``model_fn(features, labels, mode,
params, config)`` (any subset; wrapped in a :class:`~torchestimator.function_model.FunctionModelFn`).
``forward(features, labels=None, mode=...)`` receives ``labels``, ``mode``, ``params`` and ``config``
only if it names them (as TF passes model_fn args).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.model_compile import unwrap_compiled
from torchestimator.spec import EstimatorSpec

__all__ = ["ModelCaller", "build_module", "eval_mode"]

_FORWARD_ARGS = ("labels", "mode", "params", "config")


def _named_args(fn: Callable[..., Any]) -> tuple[set[str], bool]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return set(), True
    names = {n for n, p in sig.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    var_kw = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    return names, var_kw


def build_module(model_fn: Any, params: dict[str, Any], config: Any) -> torch.nn.Module:
    """Instantiate ``model_fn`` once (see the module docstring).

    Raises:
        InvalidArgumentError: ``model_fn`` is not a module, module class or factory, or the factory
            does not return an ``nn.Module``.
    """
    if isinstance(model_fn, torch.nn.Module):
        return unwrap_compiled(model_fn)
    from torchestimator.function_model import FunctionModelFn, is_function_model_fn

    if is_function_model_fn(model_fn):  # TF's model_fn(features, labels, mode, params, config)
        return FunctionModelFn(model_fn, params, config)
    if not callable(model_fn):
        raise InvalidArgumentError(
            f"model_fn must be an nn.Module subclass, a factory params -> nn.Module, or a module; received "
            f"{type(model_fn).__name__}."
        )
    names: set[str]
    if (
        isinstance(model_fn, type)
        and next(c for c in model_fn.__mro__ if "__init__" in vars(c)) is torch.nn.Module
    ):
        names, var_kw = set(), False  # nn.Module's own (*args, **kwargs) takes nothing
    else:
        names, var_kw = _named_args(model_fn)
    kwargs: dict[str, Any] = {}
    if "params" in names or var_kw:
        kwargs["params"] = params
    if "config" in names or var_kw:
        kwargs["config"] = config
    module = model_fn(**kwargs)
    if not isinstance(module, torch.nn.Module):
        raise InvalidArgumentError(
            f"model_fn {getattr(model_fn, '__name__', model_fn)!r} must build an nn.Module; it returned "
            f"{type(module).__name__}. (A TF-style model_fn function must name its first argument `features`.)"
        )
    return unwrap_compiled(module)


class ModelCaller:
    """Calls ``module(features, labels=..., mode=..., ...)`` with only the arguments forward names."""

    def __init__(self, module: torch.nn.Module, params: dict[str, Any], config: Any) -> None:
        names, var_kw = _named_args(module.forward)
        self._accepts = {n for n in _FORWARD_ARGS if n in names or var_kw}
        self._extra = {"params": params, "config": config}
        self._name = type(module).__name__

    def __call__(self, module: torch.nn.Module, features: Any, labels: Any, mode: str) -> EstimatorSpec:
        kwargs: dict[str, Any] = {}
        if "labels" in self._accepts:
            kwargs["labels"] = labels
        elif labels is not None:
            raise InvalidArgumentError(
                f"input_fn yields labels but {self._name}.forward has no `labels` argument; add "
                "`labels=None` to forward or yield features only."
            )
        if "mode" in self._accepts:
            kwargs["mode"] = mode
        for name in ("params", "config"):
            if name in self._accepts:
                kwargs[name] = self._extra[name]
        spec = module(features, **kwargs)
        if not isinstance(spec, EstimatorSpec):
            raise InvalidArgumentError(
                f"{self._name}.forward must return an EstimatorSpec in mode {mode!r}; received {type(spec).__name__}."
            )
        if spec.mode != mode:
            raise InvalidArgumentError(
                f"{self._name}.forward returned an EstimatorSpec for mode {spec.mode!r} when called with mode {mode!r}."
            )
        return spec


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[None]:
    """Run a block with ``module.eval()`` and ``torch.no_grad()``, restoring the previous mode after."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)
