"""``find_weight_keys``: the features a model's heads read as ``weight_column``, for the host-stage checks.

The host stage refuses negative and NaN weights at the batch that carries them
(:func:`~torchestimator.batch_checks.check_batch`); it learns which features are weights from the
heads the model holds as attributes (every pre-made model keeps its head as ``self.head``). A weight
column with a ``normalizer_fn`` is left out: the raw value may be anything the normalizer maps to a
valid weight, so the head checks the normalized weights instead.
"""

from __future__ import annotations

from torch import nn

from torchestimator.heads.base import Head
from torchestimator.heads.multi_head import MultiHead

__all__ = ["find_weight_keys"]


def _head_weight_keys(head: Head) -> list[str]:
    if isinstance(head, MultiHead):
        return [key for h in head.heads for key in _head_weight_keys(h)]
    column = head.weight_column
    if isinstance(column, str):
        return [column]
    if column is not None and getattr(column, "normalizer_fn", None) is None and hasattr(column, "key"):
        return [str(column.key)]
    return []


def find_weight_keys(module: nn.Module) -> tuple[str, ...]:
    """The raw weight feature keys of every head held by ``module`` or its submodules, sorted.

    Example:
        >>> from torchestimator.heads import BinaryClassHead
        >>> model = nn.Module()
        >>> model.head = BinaryClassHead(weight_column="w")
        >>> find_weight_keys(model)
        ('w',)
    """
    keys: set[str] = set()
    for m in module.modules():
        for value in vars(m).values():
            if isinstance(value, Head):
                keys.update(_head_weight_keys(value))
    return tuple(sorted(keys))
