"""``LazyPredictions``: a TRAIN spec's predictions, computed only if something reads them.

In TRAIN only the loss is needed each step; TF builds the prediction ops in the graph but never runs
them unless a hook fetches them. Here the head hands the spec a mapping with TF's prediction keys
whose values are computed on first access (all at once, from the logits of that step), so a
training step pays for sigmoid / softmax / argmax only when a hook actually looks::

    spec.predictions.keys()          # ['logits', 'logistic', ...]   no computation
    spec.predictions["logistic"]     # computes the dict once, then serves every key from it
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

__all__ = ["LazyPredictions"]


class LazyPredictions(Mapping[Any, Any]):
    """A read-only mapping over ``keys`` whose values come from ``compute()`` on first access.

    Args:
        keys: the prediction keys, in TF's order.
        compute: returns ``{key: value}`` for (at least) every key in ``keys``.

    Example:
        >>> calls = []
        >>> preds = LazyPredictions(["a"], lambda: calls.append(1) or {"a": 1})
        >>> list(preds), calls
        (['a'], [])
        >>> preds["a"], preds["a"], calls
        (1, 1, [1])
    """

    def __init__(self, keys: Sequence[Any], compute: Callable[[], Mapping[Any, Any]]) -> None:
        self._keys = list(keys)
        self._compute: Callable[[], Mapping[Any, Any]] | None = compute
        self._values: Mapping[Any, Any] | None = None

    def _materialized(self) -> Mapping[Any, Any]:
        if self._values is None:
            assert self._compute is not None  # set until the first computation
            self._values, self._compute = self._compute(), None  # drop the closure (and its logits)
        return self._values

    def __getitem__(self, key: Any) -> Any:
        if key not in self._keys:
            raise KeyError(key)
        return self._materialized()[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __repr__(self) -> str:
        state = "computed" if self._values is not None else "not computed"
        return f"LazyPredictions({self._keys!r}, {state})"
