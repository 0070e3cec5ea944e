"""Dense views of categorical columns: ``indicator_column``, ``embedding_column``, ``shared_embeddings``.

Their host transform is the categorical ids; the tables live in the consuming layer
(:class:`~torchestimator.columns.DenseFeatures`), fused into one ``EmbeddingBag`` per dimension.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

from torchestimator.columns.base import CategoricalColumn, CategoricalColumnView, DenseColumn
from torchestimator.errors import InvalidArgumentError

__all__ = [
    "COMBINERS",
    "EmbeddingColumn",
    "IndicatorColumn",
    "SharedEmbeddingColumn",
    "embedding_column",
    "indicator_column",
    "shared_embeddings",
]

COMBINERS = ("mean", "sqrtn", "sum")


@dataclasses.dataclass(frozen=True, eq=False)
class IndicatorColumn(CategoricalColumnView, DenseColumn):
    """Multi-hot counts (weighted: summed weights) of a categorical column, width ``num_buckets``."""

    categorical_column: CategoricalColumn

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_indicator"

    @property
    def variable_shape(self) -> tuple[int, ...]:
        return (self.categorical_column.num_buckets,)


def indicator_column(categorical_column: CategoricalColumn) -> IndicatorColumn:
    """Multi-hot representation (TF ``indicator_column``); ``["bob", "bob"]`` counts 2.

    Raises:
        InvalidArgumentError: the input is not categorical.
    """
    if not isinstance(categorical_column, CategoricalColumn):
        raise InvalidArgumentError(
            f"indicator_column needs a categorical column; received {categorical_column!r}."
        )
    return IndicatorColumn(categorical_column)


def _embedding_fields(
    name: str,
    dimension: int,
    combiner: str,
    initializer: Callable[..., Any] | None,
    ckpt: str | None,
    tensor: str | None,
    max_norm: float | None,
    trainable: bool,
    use_safe_embedding_lookup: bool,
) -> dict[str, Any]:
    """Validate the embedding arguments -> the :class:`EmbeddingColumn` fields other than ``categorical_column``."""
    if int(dimension) < 1:
        raise InvalidArgumentError(
            f"embedding column {name!r}: dimension must be >= 1; received {dimension!r}."
        )
    if combiner not in COMBINERS:
        raise InvalidArgumentError(
            f"embedding column {name!r}: combiner must be one of {list(COMBINERS)}; received {combiner!r}."
        )
    if max_norm is not None and not max_norm > 0:
        raise InvalidArgumentError(f"embedding column {name!r}: max_norm must be > 0; received {max_norm!r}.")
    if (ckpt is None) != (tensor is None):
        raise InvalidArgumentError(
            f"embedding column {name!r}: ckpt_to_load_from and tensor_name_in_ckpt must be given together."
        )
    return {
        "dimension": int(dimension),
        "combiner": combiner,
        "initializer": initializer,
        "ckpt_to_load_from": ckpt,
        "tensor_name_in_ckpt": tensor,
        "max_norm": None if max_norm is None else float(max_norm),
        "trainable": bool(trainable),
        "use_safe_embedding_lookup": bool(use_safe_embedding_lookup),
    }


@dataclasses.dataclass(frozen=True, eq=False)
class EmbeddingColumn(CategoricalColumnView, DenseColumn):
    """A learned ``(num_buckets, dimension)`` table combined per example (mean / sqrtn / sum).

    ``initializer`` is TF-style: ``initializer(shape) -> array``; None = truncated normal with
    std ``1/sqrt(dimension)`` cut at 2 std. ``ckpt_to_load_from`` is a safetensors file, or a TF
    checkpoint / model_dir / SavedModel (read without TensorFlow), whose ``tensor_name_in_ckpt`` entry
    initialises the table.
    """

    categorical_column: CategoricalColumn
    dimension: int
    combiner: str = "mean"
    initializer: Callable[..., Any] | None = None
    ckpt_to_load_from: str | None = None
    tensor_name_in_ckpt: str | None = None
    max_norm: float | None = None
    trainable: bool = True
    use_safe_embedding_lookup: bool = True

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_embedding"

    @property
    def table_name(self) -> str:
        """The table this column reads (its own)."""
        return self.name

    @property
    def variable_shape(self) -> tuple[int, ...]:
        return (self.dimension,)

    @property
    def init_std(self) -> float:
        return 1.0 / math.sqrt(self.dimension)


def embedding_column(
    categorical_column: CategoricalColumn,
    dimension: int,
    combiner: str = "mean",
    initializer: Callable[..., Any] | None = None,
    ckpt_to_load_from: str | None = None,
    tensor_name_in_ckpt: str | None = None,
    max_norm: float | None = None,
    trainable: bool = True,
    use_safe_embedding_lookup: bool = True,
) -> EmbeddingColumn:
    """A dense embedding of a categorical column (TF ``embedding_column``), name ``<cat>_embedding``.

    Example:
        >>> from torchestimator.columns import categorical_column_with_identity
        >>> embedding_column(categorical_column_with_identity("k", 10), 4).name
        'k_embedding'

    Raises:
        InvalidArgumentError: a bad dimension, combiner, max_norm or checkpoint pair.
    """
    if not isinstance(categorical_column, CategoricalColumn):
        raise InvalidArgumentError(
            f"embedding_column needs a categorical column; received {categorical_column!r}."
        )
    fields = _embedding_fields(
        categorical_column.name,
        dimension,
        combiner,
        initializer,
        ckpt_to_load_from,
        tensor_name_in_ckpt,
        max_norm,
        trainable,
        use_safe_embedding_lookup,
    )
    return EmbeddingColumn(categorical_column, **fields)


@dataclasses.dataclass(frozen=True, eq=False)
class SharedEmbeddingColumn(EmbeddingColumn):
    """An embedding column reading the table ``shared_embedding_collection_name`` shared with others."""

    shared_embedding_collection_name: str = ""

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_shared_embedding"

    @property
    def table_name(self) -> str:
        return self.shared_embedding_collection_name


def shared_embeddings(
    categorical_columns: Sequence[CategoricalColumn],
    dimension: int,
    combiner: str = "mean",
    initializer: Callable[..., Any] | None = None,
    shared_embedding_collection_name: str | None = None,
    ckpt_to_load_from: str | None = None,
    tensor_name_in_ckpt: str | None = None,
    max_norm: float | None = None,
    trainable: bool = True,
    use_safe_embedding_lookup: bool = True,
) -> list[SharedEmbeddingColumn]:
    """Embedding columns over one shared table (TF ``shared_embeddings``), in the input order.

    The columns must have the same type and ``num_buckets``; the table is named
    ``'_'.join(sorted(names)) + '_shared_embedding'`` unless ``shared_embedding_collection_name`` is given.

    Raises:
        InvalidArgumentError: fewer than two columns, mixed types or bucket counts, bad arguments.
    """
    cols = list(categorical_columns)
    if len(cols) < 1:
        raise InvalidArgumentError("shared_embeddings: categorical_columns is empty.")
    for col in cols:
        if not isinstance(col, CategoricalColumn):
            raise InvalidArgumentError(f"shared_embeddings needs categorical columns; received {col!r}.")
    base_type = lambda c: type(getattr(c, "categorical_column", c))  # noqa: E731
    if len({base_type(c) for c in cols}) > 1 or len({c.num_buckets for c in cols}) > 1:
        raise InvalidArgumentError(
            "shared_embeddings: all columns must have the same type and num_buckets; received "
            f"{[(c.name, type(c).__name__, c.num_buckets) for c in cols]}."
        )
    name = shared_embedding_collection_name or "_".join(sorted(c.name for c in cols)) + "_shared_embedding"
    fields = _embedding_fields(
        name,
        dimension,
        combiner,
        initializer,
        ckpt_to_load_from,
        tensor_name_in_ckpt,
        max_norm,
        trainable,
        use_safe_embedding_lookup,
    )
    return [SharedEmbeddingColumn(col, **fields, shared_embedding_collection_name=name) for col in cols]
