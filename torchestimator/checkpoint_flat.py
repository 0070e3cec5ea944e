"""Flattening state dicts for safetensors + JSON, and back (no pickle either way).

Tensors go to safetensors files: the module's under their ``state_dict`` names (shared storage cloned, since
safetensors refuses tied tensors), each optimizer's as ``"<optimizer>/<param index>/<key>"``. Everything
else must be JSON-serialisable and goes to ``meta.json``; anything else is refused with a
``CheckpointError`` naming the entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import torch

from torchestimator.errors import CheckpointError

__all__ = ["flatten_optimizer", "optimizer_states", "split_tensors"]


def _jsonable(value: Any, where: str) -> Any:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as e:
        raise CheckpointError(
            f"cannot checkpoint {where}: non-tensor state must be JSON-serialisable (no pickles are written); "
            f"received {type(value).__name__}: {e}"
        ) from e
    return value


def split_tensors(state: Mapping[str, Any], where: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors (deduplicated storage, contiguous, CPU) and JSON-able leftovers of a flat state dict."""
    tensors: dict[str, torch.Tensor] = {}
    extra: dict[str, Any] = {}
    seen: set[tuple[int, Any]] = set()
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            if value.is_sparse:
                value = value.to_dense()
            t = value.detach().to("cpu").contiguous()
            ident = (t.untyped_storage().data_ptr(), t.storage_offset())
            if ident in seen:
                t = t.clone()  # safetensors refuses tensors that share storage (tied weights)
            seen.add(ident)
            tensors[key] = t
        else:
            extra[key] = _jsonable(value, f"{where} entry {key!r}")
    return tensors, extra


def flatten_optimizer(name: str, state: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, pstate in state["state"].items():
        for key, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{name}/{idx}/{key}"] = value.detach().to("cpu").contiguous().clone()
            else:
                scalars.setdefault(str(idx), {})[key] = _jsonable(value, f"optimizer {name!r} state {key!r}")
    groups = _jsonable(state["param_groups"], f"optimizer {name!r} param_groups")
    return tensors, {"scalars": scalars, "param_groups": groups}


def optimizer_states(
    content: Mapping[str, Any], flat: Mapping[str, torch.Tensor]
) -> dict[str, dict[str, Any]]:
    optimizers: dict[str, dict[str, Any]] = {}
    for opt_name, m in (content.get("optimizers") or {}).items():
        state: dict[Any, dict[str, Any]] = {}
        for idx, scalars in m["scalars"].items():
            state.setdefault(int(idx), {}).update(scalars)
        prefix = f"{opt_name}/"
        for key, value in flat.items():
            if key.startswith(prefix) and key.count("/") == opt_name.count("/") + 2:
                idx, skey = key[len(prefix) :].split("/", 1)
                state.setdefault(int(idx), {})[skey] = value
        optimizers[opt_name] = {"state": state, "param_groups": m["param_groups"]}
    return optimizers
