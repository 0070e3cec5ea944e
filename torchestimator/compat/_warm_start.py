"""A TF checkpoint or SavedModel seen as a warm-start source: our variable names -> TF's tensors.

:func:`torchestimator.warm_start.warm_start` addresses variables by *our* names (see
:mod:`torchestimator.warm_start._variables`). For a TF source each of our variables is paired with the
TF variable the pre-made bindings name (a Dense kernel transposed to torch's layout; a dense kernel
assembled from its columns' rows), keeping TF's row count, so a ``VocabInfo`` remaps rows exactly as
for our own checkpoints. Every TF variable is also available under its TF name, for
``var_name_to_prev_var_name={our name: TF name}`` on custom modules.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from torchestimator.compat._tf_bundle import TFBundle
from torchestimator.compat._tf_names import Binding, module_bindings
from torchestimator.warm_start._variables import WarmStartVariable

__all__ = ["tf_warm_start_source"]


def _oriented(bundle: TFBundle, binding: Binding, name: str) -> torch.Tensor:
    value = torch.from_numpy(bundle.read(name))
    return value.T.contiguous() if binding.transpose else value


def _parts_for(
    var: WarmStartVariable, bindings: list[tuple[Binding, str]]
) -> list[tuple[Binding, str]] | None:
    """The TF variables that make up ``var``: one with the same rows, or several filling it row by row."""
    same_key = [(b, n) for b, n in bindings if b.key == var.key]
    for b, name in same_key:
        if b.start == var.start and b.rows == var.rows:
            return [(b, name)]
    if var.rows is None and same_key and all(b.rows is not None for b, _ in same_key):
        parts = sorted(
            same_key, key=lambda bn: bn[0].start
        )  # e.g. a linear dense kernel, one TF variable a column
        expected = 0
        for b, _ in parts:
            if b.start != expected:
                return None
            expected += int(b.rows or 0)
        return parts
    return None


def tf_warm_start_source(
    path: str | os.PathLike[str], module: torch.nn.Module, new_vars: dict[str, WarmStartVariable]
) -> tuple[Mapping[str, Any], dict[str, WarmStartVariable], str]:
    """``(state, old_vars, source)`` for warm-starting ``module`` from a TF checkpoint or SavedModel.

    Args:
        path: a TF model_dir, ``model.ckpt-N`` prefix, or SavedModel directory.
        module: the model being warm-started (its pre-made layout decides the TF names).
        new_vars: the module's warm-start variables (:func:`module_variables`).

    Returns:
        ``state`` (tensors by key), ``old_vars`` (our names and TF names -> their tensors), the source path.

    Raises:
        CheckpointNotFoundError / CorruptCheckpointError: no readable TF checkpoint at ``path``.
    """
    bundle = TFBundle(path)
    names = set(bundle.names())
    bindings = [
        (b, next(n for n in b.tf_names if n in names))
        for b in (module_bindings(module) or [])
        if any(n in names for n in b.tf_names)
    ]
    state = _LazyState(bundle)
    old_vars = {name: WarmStartVariable(name, f"tf:{name}") for name in sorted(names)}
    for var_name, var in new_vars.items():
        parts = _parts_for(var, bindings)
        if parts is not None:
            state.derived[f"ours:{var_name}"] = parts
            old_vars[var_name] = WarmStartVariable(var_name, f"ours:{var_name}")
    return state, old_vars, str(bundle.prefix)


class _LazyState(Mapping[str, Any]):
    """Tensors read from the bundle only when warm start asks for them (checksums checked then)."""

    def __init__(self, bundle: TFBundle) -> None:
        self.bundle = bundle
        self.derived: dict[str, list[tuple[Binding, str]]] = {}

    def __getitem__(self, key: str) -> torch.Tensor:
        if key.startswith("tf:"):
            return torch.from_numpy(self.bundle.read(key[3:]))
        parts = self.derived[key]
        if len(parts) == 1:
            return _oriented(self.bundle, *parts[0])
        return torch.cat([_oriented(self.bundle, b, n) for b, n in parts], dim=0)

    def __iter__(self) -> Iterator[str]:
        yield from (f"tf:{n}" for n in self.bundle.names())
        yield from self.derived

    def __len__(self) -> int:
        return len(self.bundle.names()) + len(self.derived)
