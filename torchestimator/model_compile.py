"""``RunConfig(compile=...)``: ``torch.compile`` of the resident model, with checkpoint keys left unchanged.

Compilation is done in place with ``nn.Module.compile`` (not by wrapping in ``torch.compile(module)``), so the
module's ``state_dict`` keeps its names: no ``_orig_mod.`` prefixes in checkpoints, exports or warm starts, and
a checkpoint written with compilation loads without it and the other way round. A model passed in already
wrapped by ``torch.compile`` is unwrapped the same way, keeping the user's compile options.

What is compiled: modules that mark themselves ``torchestimator_compile_target = True`` (the pre-made DNN
towers: dense math that compiles well; the sparse embedding bags and heads stay eager), or the whole module when
none does (a custom model_fn's ``nn.Module``).

>>> import torch
>>> m = torch.nn.Linear(2, 2)
>>> unwrap_compiled(torch.compile(m)) is m and list(m.state_dict()) == ["weight", "bias"]
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError

__all__ = ["compile_model", "compile_options", "unwrap_compiled"]


def compile_options(setting: Any) -> dict[str, Any] | None:
    """``RunConfig.compile`` as ``torch.compile`` keyword arguments, or None for no compilation.

    Raises:
        InvalidArgumentError: not a bool, None or a mapping of ``torch.compile`` arguments.
    """
    if setting is None or setting is False:
        return None
    if setting is True:
        return {}
    if isinstance(setting, Mapping):
        return dict(setting)
    raise InvalidArgumentError(
        "compile must be False, True or a dict of torch.compile arguments (e.g. {'mode': 'max-autotune'}); "
        f"received {setting!r}."
    )


def unwrap_compiled(module: torch.nn.Module) -> torch.nn.Module:
    """The module inside a ``torch.compile`` wrapper, compiled in place with the same options; else ``module``."""
    inner = getattr(module, "_orig_mod", None)
    if not isinstance(inner, torch.nn.Module) or type(module).__name__ != "OptimizedModule":
        return module
    context = getattr(module, "dynamo_ctx", None)  # carries the user's backend / mode / options
    compiler = context if callable(context) else torch.compile
    inner._compiled_call_impl = compiler(_traceable_call(inner))
    return inner


def _traceable_call(module: torch.nn.Module) -> Any:
    """A frame of our own around ``module._call_impl`` for dynamo to start tracing from.

    ``nn.Module.compile`` hands dynamo ``_call_impl`` itself, whose frame lies in torch's own files, which
    dynamo skips: a built-in layer (``nn.Linear``) then runs uncompiled. Tracing from this frame inlines it.
    """

    def call(*args: Any, **kwargs: Any) -> Any:
        return module._call_impl(*args, **kwargs)

    return call


def compile_model(module: torch.nn.Module, options: dict[str, Any] | None) -> torch.nn.Module:
    """Compile ``module``'s targets in place (see the module docstring); returns ``module``."""
    if options is None:
        return module
    targets = [m for m in module.modules() if getattr(m, "torchestimator_compile_target", False)]
    for target in targets or [module]:
        # what nn.Module.compile sets, traced from our frame (see _traceable_call); state_dict keys unchanged
        target._compiled_call_impl = torch.compile(_traceable_call(target), **options)
    return module
