"""TF optimizers -> FBGEMM fused in-backward optimizers for sharded embedding tables.

A sharded table is updated inside the backward pass by FBGEMM (TorchRec's ``fused`` kernel), not by the
model_fn's ``torch.optim`` optimizer. Only rules FBGEMM applies exactly as TF / torch do are mapped:

=========================  ==================  ==================================================
model_fn optimizer         FBGEMM              why it is the same rule
=========================  ==================  ==================================================
``torch.optim.Adagrad``    ``EXACT_ADAGRAD``   duplicate ids summed, then ``acc += g²;
                                               w -= lr g / (sqrt(acc) + eps)`` on the touched rows
                                               (``ResourceSparseApplyAdagradV2``); TF's initial
                                               accumulator (0.1) is copied into FBGEMM's
                                               ``momentum1``, which FBGEMM itself starts at 0
``torch.optim.SGD``        ``EXACT_SGD``       ``w -= lr g`` (no momentum / weight decay)
=========================  ==================  ==================================================

Everything else is refused, never approximated: FTRL has no FBGEMM kernel; FBGEMM's Adam updates only
the touched rows while Keras' sparse Adam decays every row's moments; RMSProp likewise. The strategy then keeps
such a table replicated under DDP (exact rule, a warning), or raises with ``ShardedStrategy(strict=True)``.
"""

from __future__ import annotations

from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError

__all__ = ["FusedRule", "check_learning_rates", "fused_rule"]


class FusedRule:
    """How one table group is updated by FBGEMM.

    Args:
        kind: ``'adagrad'`` or ``'sgd'``.
        fused_params: the ``fused_params`` of TorchRec's sharder (optimizer, learning_rate, eps).
        optimizer: the model_fn optimizer that owns the table (its state holds the accumulator).
        param: the table parameter inside that optimizer.
    """

    def __init__(
        self, kind: str, fused_params: dict[str, Any], optimizer: torch.optim.Optimizer, param: torch.Tensor
    ) -> None:
        self.kind = kind
        self.fused_params = fused_params
        self.optimizer = optimizer
        self.param = param
        self._lr_group: dict[str, Any] | None = None

    @property
    def has_accumulator(self) -> bool:
        return self.kind == "adagrad"

    def accumulator(self) -> torch.Tensor:
        """The table's Adagrad accumulator (``(rows, dim)``) from the model_fn optimizer's state."""
        state = self.optimizer.state[self.param]
        if "sum" not in state:  # torch builds it eagerly; a restored state_dict holds it too
            group = self.param_group()
            state["sum"] = torch.full_like(self.param, float(group["initial_accumulator_value"]))
            state["step"] = torch.tensor(0.0)
        return state["sum"]

    def param_group(self) -> dict[str, Any]:
        for group in self.optimizer.param_groups:
            if any(p is self.param for p in group["params"]):
                return group
        raise InvalidArgumentError("the table parameter is not in its optimizer's param_groups.")


def _unsupported(name: str, why: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"sharded embedding tables (train_distribute='sharded' / 'ParameterServerStrategy') are updated by "
        f"FBGEMM's fused optimizers, and {name} {why}. Use 'Adagrad' or 'SGD' for the embedding columns to shard "
        "them; otherwise the table stays replicated (train_distribute='ddp' semantics, the exact rule)."
    )


def fused_rule(optimizer: torch.optim.Optimizer, param: torch.Tensor) -> FusedRule:
    """The FBGEMM rule equal to ``optimizer``'s rule for ``param`` (see the module docstring).

    Raises:
        InvalidArgumentError: an optimizer (or setting) FBGEMM cannot apply with the same semantics.
    """
    from fbgemm_gpu.split_embedding_configs import EmbOptimType

    name = type(optimizer).__name__
    group = next((g for g in optimizer.param_groups if any(p is param for p in g["params"])), None)
    if group is None:
        raise InvalidArgumentError(f"the table parameter is not optimized by {name}.")
    lr = float(group["lr"])
    if isinstance(optimizer, torch.optim.Adagrad):
        if group.get("lr_decay", 0) or group.get("weight_decay", 0) or group.get("maximize", False):
            raise _unsupported(
                name, "with lr_decay / weight_decay / maximize has no exact FBGEMM counterpart"
            )
        params = {"optimizer": EmbOptimType.EXACT_ADAGRAD, "learning_rate": lr, "eps": float(group["eps"])}
        return FusedRule("adagrad", params, optimizer, param)
    if isinstance(optimizer, torch.optim.SGD):
        if group.get("momentum", 0) or group.get("weight_decay", 0) or group.get("maximize", False):
            raise _unsupported(
                name, "with momentum / weight_decay / maximize has no exact FBGEMM counterpart"
            )
        return FusedRule("sgd", {"optimizer": EmbOptimType.EXACT_SGD, "learning_rate": lr}, optimizer, param)
    why = {
        "Ftrl": "(TF's FTRL) has no FBGEMM kernel",
        "Adam": "differs: FBGEMM's Adam updates only the rows a batch touches, Keras' sparse Adam decays "
        "every row's moments",
        "RMSProp": "has no exact FBGEMM kernel",
    }.get(name, "has no exact FBGEMM counterpart")
    raise _unsupported(name, why)


def check_learning_rates(rules: list[FusedRule], table_names: list[str]) -> None:
    """Refuse a learning rate changed after the fused tables took it (a schedule, a manual change).

    FBGEMM applies the tables' updates inside the backward pass with the learning rate it was given when training
    started; a changed ``lr`` in the torch optimizer would update the dense tower and not the tables, so the run
    would silently differ from a single-process one. Called once per step (a few dict reads).

    Raises:
        InvalidArgumentError: naming the table, the learning rate the tables use and the new one.
    """
    for rule, name in zip(rules, table_names):
        if rule._lr_group is None:
            rule._lr_group = rule.param_group()
        lr = float(rule._lr_group["lr"])
        if lr != float(rule.fused_params["learning_rate"]):
            raise InvalidArgumentError(
                f"the learning rate of sharded embedding table {name!r} changed from "
                f"{rule.fused_params['learning_rate']} to {lr} during training (a schedule or a manual change); "
                "FBGEMM updates sharded tables with the rate given when training started, so the run would differ "
                "from an unsharded one. Keep the rate constant, or use train_distribute='ddp'."
            )
