"""Optimizer slots from a TF checkpoint into our optimizers' state (see the table in ``_tf_names``).

Slots are written into the rows a binding owns (a column's rows of a fused table get that column's
TF accumulator); state an optimizer has not created yet is first created with its initial values
(FTRL's accumulator at ``initial_accumulator_value``, Adam's moments at zero), so rows no TF slot
covers start where a fresh optimizer would.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from torchestimator.compat._tf_bundle import TFBundle
from torchestimator.compat._tf_names import Binding, optimizer_slot_names, tf_slot_candidates

if TYPE_CHECKING:
    from torchestimator.compat._report import ImportReport

__all__ = ["load_slots"]


def _ensure_state(
    kind: str, optimizer: torch.optim.Optimizer, param: torch.Tensor, group: dict[str, Any]
) -> dict:
    """The optimizer's state for ``param``, created with its initial slot values if it has none yet."""
    state = optimizer.state[param]
    if state:
        return state
    if kind == "Ftrl":
        state["accumulator"] = torch.full_like(param, group["initial_accumulator_value"])
        state["linear"] = torch.zeros_like(param)
    elif kind == "Adam":
        state["step"] = 0
        state["m"], state["v"] = torch.zeros_like(param), torch.zeros_like(param)
        if group.get("amsgrad"):
            state["vhat"] = torch.zeros_like(param)
    elif kind == "RMSProp":
        state["rms"] = torch.zeros_like(param)
        if group.get("momentum", 0) > 0:
            state["momentum"] = torch.zeros_like(param)
        if group.get("centered"):
            state["mg"] = torch.zeros_like(param)
    elif kind == "SGD" and group.get("momentum", 0) > 0:
        state["momentum_buffer"] = torch.zeros_like(param)
    return state


def _adam_step(bundle: TFBundle, group: dict[str, Any], global_step: int) -> int:
    """Adam's step count: Keras' ``iter`` if saved, TF 1's ``beta1_power``, else the global step.

    (tf.estimator 2.x sets a Keras optimizer's ``iterations`` to ``global_step``, so it is not saved.)
    """
    names = bundle.names()
    iters = [n for n in names if re.fullmatch(r"(.*/)?Adam(_\d+)?/iter", n)]
    if len(iters) == 1:
        return int(bundle.read(iters[0]))
    powers = [n for n in names if re.fullmatch(r"(.*/)?beta1_power", n)]  # e.g. "dnn/head/beta1_power"
    if len(powers) == 1 and 0 < group["beta_1"] < 1:
        power = float(bundle.read(powers[0]))
        return round(math.log(power) / math.log(group["beta_1"])) - 1  # TF 1 stores beta1 ** (t + 1)
    return global_step


def _read_slot(bundle: TFBundle, names: list[str]) -> np.ndarray:
    if len(names) == 1:
        return bundle.read(names[0])
    out = np.zeros(bundle.shapes()[names[0]], dtype=np.float32)
    for name in names:  # TF 1 per-partition slots: each stores its partition's rows
        rows = bundle.covered_rows(name)
        out[rows] = bundle.read(name)[rows]
    return out


# Keras hyper-parameter variable (saved beside the slots) -> our param_group key
_HYPER: dict[str, dict[str, str]] = {
    "Adagrad": {"learning_rate": "lr"},
    "Ftrl": {
        "learning_rate": "lr",
        "learning_rate_power": "learning_rate_power",
        "l1_regularization_strength": "l1",
        "l2_regularization_strength": "l2",
        "beta": "beta",
    },
    "Adam": {"learning_rate": "lr", "beta_1": "beta_1", "beta_2": "beta_2"},
    "RMSProp": {"learning_rate": "lr", "rho": "rho", "momentum": "momentum"},
    "SGD": {"learning_rate": "lr", "momentum": "momentum"},
}


def _keras_prefix(slot_name: str, tf_var: str) -> str | None:
    """``training/Adagrad`` from ``training/Adagrad/<tf_var>/accumulator`` (None for TF 1 slot names)."""
    marker = f"/{tf_var}/"
    return (
        slot_name[: slot_name.index(marker)]
        if marker in slot_name and not slot_name.startswith(tf_var)
        else None
    )


def check_hyperparameters(
    bundle: TFBundle, opt_name: str, kind: str, prefixes: set[str], groups: list[dict[str, Any]]
) -> list[str]:
    """Where TF saved the optimizer's hyper-parameters (Keras optimizers do), those that differ from ours.

    TF 1 optimizers keep them in the graph, not the checkpoint: nothing to compare then.
    """
    out = []
    for prefix in sorted(prefixes):
        decay = f"{prefix}/decay"
        if decay in bundle and float(bundle.read(decay)) != 0.0:
            out.append(
                f"{opt_name} ({kind}): TF decays the learning rate ({decay} = {float(bundle.read(decay))})"
            )
        for tf_key, our_key in _HYPER[kind].items():
            name = f"{prefix}/{tf_key}"
            if name not in bundle:
                continue
            theirs = float(bundle.read(name))
            for ours in {float(g[our_key]) for g in groups if our_key in g}:
                if not math.isclose(theirs, ours, rel_tol=1e-6, abs_tol=1e-12):
                    out.append(
                        f"{opt_name} ({kind}): {tf_key} is {theirs:.6g} in TF ({name}), {ours:.6g} here"
                    )
    return out


def load_slots(
    bundle: TFBundle,
    module: torch.nn.Module,
    optimizers: Mapping[str, torch.optim.Optimizer],
    resolved: list[tuple[Binding, str]],
    report: ImportReport,
) -> None:
    params = dict(module.named_parameters())
    names = bundle.names()
    for opt_name, opt in optimizers.items():
        info = optimizer_slot_names(opt)
        group_of = {id(p): g for g in opt.param_groups for p in g["params"]}
        prefixes: set[str] = set()
        groups: list[dict[str, Any]] = []
        for b, tf_var in resolved:
            param = params.get(b.key)
            if param is None or id(param) not in group_of:
                continue
            if info is None:
                report.slots_left_initial.append(
                    f"{opt_name}:{b.our_name} ({type(opt).__name__} has no TF slots)"
                )
                continue
            kind, slots = info
            group = group_of[id(param)]
            if all(group is not g for g in groups):
                groups.append(group)
            state = _ensure_state(kind, opt, param, group)
            for our_key, tf_slot in slots.items():
                if our_key not in state:
                    continue
                found = tf_slot_candidates(tf_var, tf_slot, names)
                label = f"{opt_name}:{b.our_name}/{our_key}"
                if not found:
                    report.slots_left_initial.append(label)
                    continue
                value = torch.from_numpy(_read_slot(bundle, found))
                target = b.view(state[our_key])
                with torch.no_grad():
                    target.copy_((value.T if b.transpose else value).to(target.dtype))
                report.slots_loaded[label] = ", ".join(found)
                prefixes.update(p for p in (_keras_prefix(n, tf_var) for n in found) if p is not None)
            if kind == "Adam":
                state["step"] = _adam_step(bundle, group, report.global_step)
            elif kind == "Adagrad" and "step" in state:
                state["step"] = torch.tensor(float(report.global_step))
        if info is not None and groups:
            report.hyperparameter_mismatches += check_hyperparameters(
                bundle, opt_name, info[0], prefixes, groups
            )
