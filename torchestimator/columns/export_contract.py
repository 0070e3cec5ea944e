"""What a column type's export half is, and the two objects it talks to while exporting.

Export rebuilds a model's column inputs inside the serving graph in two passes, and each column type
contributes one function to each (its *export half*, registered in
:mod:`torchestimator.columns.export_registry` beside serialization's registry):

* ``plan(planner, column, group)`` says which graph inputs the column reads, through the
  :class:`WirePlanner` (dense floats, padded raw values, host-computed ids, vocabulary lookups);
* ``dense(graph, column)`` / ``ids(graph, column)`` rebuild, from those inputs inside the traced graph,
  what the column's host transform gives (a ``(B, D)`` float block / ``(B, L)`` ids and optional weights),
  through the :class:`GraphInputs`.

Both objects are protocols here, implemented by ``torchestimator.export`` (``WirePlan`` and
``GraphBuilder``), so a column module registers its half without importing export.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import torch

__all__ = ["ColumnExport", "GraphInputs", "WirePlanner"]


class WirePlanner(Protocol):
    """The planning pass: records the graph inputs a column reads (``export.wire_plan.WirePlan``)."""

    def plan_column(self, column: Any, group: str | None = None) -> str | None:
        """Plan ``column`` through its registered half; returns the length group of its ids (or None)."""
        ...

    def add_dense(self, key: str, dtype: str, width: int) -> str:
        """A ``(B, width)`` input of raw feature ``key``."""
        ...

    def add_padded(self, key: str, dtype: str, group: str | None, num_buckets: int | None = None) -> str:
        """A ``(B, L)`` padded input of raw feature ``key`` (ids below ``num_buckets``, if given)."""
        ...

    def add_host_ids(self, column: Any, group: str) -> str:
        """A ``(B, L)`` input of ids only the host computes (the column serialised with it); its name."""
        ...

    def add_lookup(
        self, ids_name: str, key: str, dtype: str, vocabulary: list[Any], default_value: int
    ) -> None:
        """Let the ONNX graph compute ``ids_name`` itself from raw ``key`` by a vocabulary lookup."""
        ...


class GraphInputs(Protocol):
    """The graph pass: the wire tensors inside the traced graph (``export.graph_inputs.GraphBuilder``)."""

    wire: Mapping[str, torch.Tensor]
    batch: Any

    def dense(self, column: Any) -> torch.Tensor:
        """``(B, D)`` float32 of a column through its registered half."""
        ...

    def categorical(self, column: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(ids (B, L) int64, -1 = missing; weights (B, L) or None)`` through the registered half."""
        ...

    def host_ids(self, column: Any) -> torch.Tensor:
        """The ``(B, L)`` host-computed ids input of ``column`` (see :meth:`WirePlanner.add_host_ids`)."""
        ...


@dataclasses.dataclass(frozen=True)
class ColumnExport:
    """One column type's export half.

    Attributes:
        plan: ``(planner, column, group) -> group of its ids or None``: records the inputs it reads.
            ``group`` names the length group its ids join (None: the column's own).
        dense: ``(graph, column) -> (B, D) float32``, for a column a ``DenseFeatures`` packs on the
            host (None: the type is never a host block).
        ids: ``(graph, column) -> (ids, weights or None)``, for a column whose ids feed a bag or an
            indicator (None: the type has no ids).
    """

    plan: Callable[[WirePlanner, Any, str | None], str | None]
    dense: Callable[[GraphInputs, Any], torch.Tensor] | None = None
    ids: Callable[[GraphInputs, Any], tuple[torch.Tensor, torch.Tensor | None]] | None = None
