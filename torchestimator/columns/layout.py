"""Frozen descriptions of how the column layers lay out their inputs and weights.

What export (the serving graph), the TF bridge, checkpoint import and gradient clipping need from a
column layer, as a public, read-only value, so none of them reads a layer's private state::

    DenseFeatures.layout()                      LinearModel.layout()
    ├─ host_blocks: runs of host columns        ├─ sparse_columns: categorical columns, in order
    │    -> "<prefix>/dense<i>" (B, width)      └─ spans: column -> rows of sparse_weights.weight
    └─ fused_tables: one per EmbeddingBag            -> "<prefix>/ids|offsets|weights" (one bag per
         key: "dim8", "dim8_frozen" ...                column slot, column-major)
         columns: the slot order of the bags
         spans: table name -> rows of the bag's weight
         -> "<prefix>/<key>/ids|offsets|weights|bags"

Rows are ``[start, start + rows)`` of the fused weight; a table shared by several columns (shared
embeddings) has one span that every column naming it reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from torchestimator.errors import InvalidArgumentError

__all__ = ["DenseFeaturesLayout", "FusedTable", "LinearModelLayout", "TableSpan"]


@dataclasses.dataclass(frozen=True)
class TableSpan:
    """The rows ``[start, start + rows)`` of a fused weight that one table (or one column) owns."""

    name: str
    start: int
    rows: int

    @property
    def stop(self) -> int:
        return self.start + self.rows


@dataclasses.dataclass(frozen=True)
class FusedTable:
    """One fused ``nn.EmbeddingBag`` of a ``DenseFeatures``: ``embedding_tables.<key>.weight``.

    Attributes:
        key: the ModuleDict key (``dim<d>``, ``+ _frozen``, ``+ _maxnorm<i>``).
        dimension: the embedding width.
        trainable: whether the weight trains.
        max_norm: the rows' norm clip, or None.
        columns: the embedding columns in bag-slot order (a column may repeat a shared table).
        spans: each table's rows, in row order.
    """

    key: str
    dimension: int
    trainable: bool
    max_norm: float | None
    columns: tuple[Any, ...]
    spans: tuple[TableSpan, ...]

    @property
    def rows(self) -> int:
        """Rows of the fused weight (the sum of the spans)."""
        return sum(s.rows for s in self.spans)

    def span(self, table_name: str) -> TableSpan:
        """The rows of ``table_name``.

        Raises:
            InvalidArgumentError: no table of that name in this bag.
        """
        for span in self.spans:
            if span.name == table_name:
                return span
        raise InvalidArgumentError(
            f"fused table {self.key!r} has no table {table_name!r}; tables: {[s.name for s in self.spans]}."
        )

    def column_starts(self) -> list[int]:
        """The first weight row of each slot's column, in slot order."""
        return [self.span(c.table_name).start for c in self.columns]


@dataclasses.dataclass(frozen=True)
class DenseFeaturesLayout:
    """A ``DenseFeatures``' host blocks (runs of host columns, output order) and fused tables."""

    host_blocks: tuple[tuple[Any, ...], ...]
    fused_tables: tuple[FusedTable, ...]

    def fused_table(self, key: str) -> FusedTable:
        """The fused table ``key`` (``embedding_tables.<key>``)."""
        for table in self.fused_tables:
            if table.key == key:
                return table
        raise InvalidArgumentError(
            f"DenseFeatures has no fused table {key!r}; tables: {[t.key for t in self.fused_tables]}."
        )


@dataclasses.dataclass(frozen=True)
class LinearModelLayout:
    """A ``LinearModel``'s categorical columns and their rows of ``sparse_weights.weight``."""

    sparse_columns: tuple[Any, ...]
    spans: tuple[TableSpan, ...]

    def span(self, column_name: str) -> TableSpan | None:
        """The rows of a categorical column, or None if it is not one of the layer's."""
        return next((s for s in self.spans if s.name == column_name), None)


def fused_table_of(
    key: str,
    dimension: int,
    trainable: bool,
    max_norm: float | None,
    columns: Iterable[Any],
    tables: Mapping[str, tuple[int, int, Any]],
) -> FusedTable:
    """A :class:`FusedTable` from a layer's table map ``name -> (start, rows, column)``."""
    spans = sorted(
        (TableSpan(name, start, rows) for name, (start, rows, _) in tables.items()), key=lambda s: s.start
    )
    return FusedTable(key, dimension, trainable, max_norm, tuple(columns), tuple(spans))
