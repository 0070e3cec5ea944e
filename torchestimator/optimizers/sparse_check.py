"""Refuse, before the first step, an optimizer that cannot take the sparse gradients of a model's embeddings.

Feature-column embeddings are ``nn.EmbeddingBag(sparse=True)`` tables: their gradients are sparse.
``torch.optim.Adam`` (and AdamW, RMSprop, ...) raise "does not support sparse gradients" on the first
``step()``, after a forward and backward were spent. The Estimator checks each optimizer the first time a
``train_op`` names it: if it holds a sparse-gradient table and a trial step on a throwaway parameter shows
it refuses sparse gradients, the error names the tables and the drop-in replacement
(``te.optimizers.Adam`` / ``te.optimizers.RMSProp``: TF's update rules, dense and sparse). The optimizer is
not swapped silently: its update rule (epsilon placement, lazy rows) would change the results.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping

import torch

from torchestimator.errors import InvalidArgumentError

__all__ = ["check_sparse_gradient_support", "sparse_gradient_parameters"]

_REPLACEMENT = {
    "Adam": "te.optimizers.Adam",
    "AdamW": "te.optimizers.Adam (no decoupled weight decay) or torch.optim.SparseAdam for the tables",
    "RMSprop": "te.optimizers.RMSProp",
}


def sparse_gradient_parameters(module: torch.nn.Module) -> dict[int, str]:
    """``{id(param): name}`` of the parameters whose gradients are sparse (``sparse=True`` embeddings)."""
    out: dict[int, str] = {}
    for prefix, sub in module.named_modules():
        if isinstance(sub, (torch.nn.Embedding, torch.nn.EmbeddingBag)) and sub.sparse:
            out[id(sub.weight)] = f"{prefix}.weight" if prefix else "weight"
    return out


def _refuses_sparse(opt: torch.optim.Optimizer) -> bool:
    """A trial step of the same optimizer class and settings on a throwaway sparse gradient."""
    probe = torch.nn.Parameter(torch.zeros(2, 1))
    probe.grad = torch.sparse_coo_tensor(torch.tensor([[0]]), torch.ones(1, 1), (2, 1), check_invariants=True)
    try:
        accepted = set(inspect.signature(type(opt)).parameters)
    except (TypeError, ValueError):
        return False
    defaults = {k: v for k, v in opt.defaults.items() if k in accepted and k != "params"}
    try:
        trial = type(opt)([probe], **defaults)
    except (
        TypeError,
        ValueError,
    ):  # an optimizer whose constructor does not take its own defaults: no verdict
        return False
    try:
        with warnings.catch_warnings():  # torch's own notes about sparse invariants: not the user's concern
            warnings.simplefilter("ignore")
            trial.step()
    except RuntimeError as err:
        return "sparse" in str(err).lower()
    return False


def check_sparse_gradient_support(
    module: torch.nn.Module, optimizers: Mapping[str, torch.optim.Optimizer]
) -> None:
    """Raise before step 1 when an optimizer holds sparse-gradient tables it cannot update.

    Raises:
        InvalidArgumentError: names the optimizer, the tables and the replacement.
    """
    sparse = sparse_gradient_parameters(module)
    if not sparse:
        return
    for name, opt in optimizers.items():
        tables = sorted({sparse[id(p)] for g in opt.param_groups for p in g["params"] if id(p) in sparse})
        if not tables or not _refuses_sparse(opt):
            continue
        cls = type(opt)
        use = _REPLACEMENT.get(cls.__name__, "te.optimizers.Adam, torch.optim.SGD / Adagrad or SparseAdam")
        raise InvalidArgumentError(
            f"optimizer {name!r} ({cls.__module__}.{cls.__qualname__}) does not support sparse gradients, and it "
            f"updates the sparse embedding tables {tables} (feature-column embeddings are "
            f"EmbeddingBag(sparse=True)). Use {use} — te.optimizers.Adam / RMSProp take dense and sparse "
            "gradients with TF's update rule — or give the tables their own torch.optim.SparseAdam."
        )
