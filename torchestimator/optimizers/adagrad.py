"""``Adagrad``: ``torch.optim.Adagrad`` (TF's rule, same state) with a faster CPU step for canned models.

Same math and the same state (``sum``, ``step``) as ``torch.optim.Adagrad``, so checkpoints, TF slot mapping
and ``isinstance`` checks are unchanged; two hot spots of a DNN with a fused sparse embedding table go::

    sparse rows   coalesce (sort) + sparse add + sparse_mask     ->  unique rows in O(n) (sparse_rows.py),
                                                                     gather, update, scatter: vectorised ops
    dense params  one small kernel chain per tensor              ->  torch's fused Adagrad kernel (one call)

Per row touched: ``acc += g^2; w -= lr * g / (sqrt(acc) + eps)`` (``ResourceSparseApplyAdagradV2``), with the
duplicates of a row summed first. Options this path does not cover (``lr_decay``, ``weight_decay``,
``maximize``, ``differentiable``, an explicit ``foreach`` / ``fused``, complex or non-CPU parameters) use
torch's own step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.optim.adagrad import adagrad as functional_adagrad

from torchestimator.optimizers.sparse_rows import SlotScratch, unique_rows

__all__ = ["Adagrad"]


def _plain(group: dict[str, Any]) -> bool:
    return not (
        group["lr_decay"]
        or group["weight_decay"]
        or group["maximize"]
        or group["differentiable"]
        or group["foreach"]
        or group["fused"]
    )


class Adagrad(torch.optim.Adagrad):
    """``torch.optim.Adagrad`` with a faster step for plain CPU float parameters (same results and state).

    Example:
        >>> w = torch.nn.Parameter(torch.zeros(2))
        >>> opt = Adagrad([w], lr=0.1, initial_accumulator_value=0.1, eps=1e-7)
        >>> w.grad = torch.tensor([1.0, -1.0]); opt.step()
        >>> [round(v, 4) for v in w.tolist()]
        [-0.0953, 0.0953]
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scratch: dict[int, SlotScratch] = {}
        self._fused_ok = True

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One Adagrad update of every parameter that has a gradient."""
        if not all(_plain(g) for g in self.param_groups):
            return super().step(closure)
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params: list[torch.Tensor] = []
            grads: list[torch.Tensor] = []
            sums: list[torch.Tensor] = []
            steps: list[torch.Tensor] = []
            _, has_complex = self._init_group(group, params, grads, sums, steps)
            if has_complex or any(p.device.type != "cpu" or p.dtype != torch.float32 for p in params):
                self._torch_update(group, params, grads, sums, steps, has_complex)
                continue
            dense = [i for i, g in enumerate(grads) if not g.is_sparse]
            for i, g in enumerate(grads):
                if g.is_sparse:
                    self._sparse_update(params[i], g, sums[i], steps[i], group["lr"], group["eps"])
            if dense:
                self._dense_update(group, *([seq[i] for i in dense] for seq in (params, grads, sums, steps)))
        return loss

    def _sparse_update(
        self,
        p: torch.Tensor,
        grad: torch.Tensor,
        acc: torch.Tensor,
        step: torch.Tensor,
        lr: float,
        eps: float,
    ) -> None:
        step += 1
        rows, g = unique_rows(grad, self._scratch.setdefault(id(p), SlotScratch()))  # (U,), (U, *row)
        acc_rows = acc.index_select(0, rows).addcmul_(g, g)  # (U, *row)
        acc.index_copy_(0, rows, acc_rows)
        # rows are distinct: gather, update, scatter back (the same p + (-lr) * u as index_add_, bit for
        # bit, at a third of its cost: index_add_ walks the rows one at a time)
        p_rows = p.index_select(0, rows).add_(g.div_(acc_rows.sqrt_().add_(eps)), alpha=-lr)  # (U, *row)
        p.index_copy_(0, rows, p_rows)

    def _dense_update(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        sums: list[torch.Tensor],
        steps: list[torch.Tensor],
    ) -> None:
        if self._fused_ok:
            try:
                self._torch_update(group, params, grads, sums, steps, False, fused=True)
                return
            except (RuntimeError, TypeError):  # a torch build without the CPU fused kernel
                self._fused_ok = False
        self._torch_update(group, params, grads, sums, steps, False)

    @staticmethod
    def _torch_update(
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        sums: list[torch.Tensor],
        steps: list[torch.Tensor],
        has_complex: bool,
        fused: bool | None = None,
    ) -> None:
        functional_adagrad(
            params,
            grads,
            sums,
            steps,
            fused=fused,
            has_sparse_grad=any(g.is_sparse for g in grads),
            foreach=False if not fused else None,
            has_complex=has_complex,
            lr=group["lr"],
            weight_decay=group["weight_decay"],
            lr_decay=group["lr_decay"],
            eps=group["eps"],
            maximize=group["maximize"],
        )
