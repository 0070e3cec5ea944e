"""Sequence columns and ``SequenceFeatures`` -> padded ``(B, T, D)`` + ``sequence_length`` ``(B,)``.

Each example's values are its time steps (one id, or ``prod(shape)`` numbers, per step)::

    rows:      [["a", "b", "c"], ["d"]]        (Ragged or a dense (B, T) array; '' / -1 = no step)
    ids:       [[3, 1, 4], [2, -, -]]          padded to T = the longest example
    lengths:   [3, 1]

Categorical steps are consumed through ``embedding_column`` / ``indicator_column`` as usual;
every column of one ``SequenceFeatures`` must give the same length per example (as in TF).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from torchestimator.batch_checks import refuse_nan
from torchestimator.columns.base import (
    CategoricalColumn,
    CategoricalColumnView,
    FeatureColumn,
    KeyedColumn,
    SequenceDenseColumn,
    TransformCache,
)
from torchestimator.columns.base import SequenceCategoricalColumn as _SequenceCategoricalBase
from torchestimator.columns.categorical import (
    categorical_column_with_hash_bucket,
    categorical_column_with_identity,
    categorical_column_with_vocabulary_file,
    categorical_column_with_vocabulary_list,
)
from torchestimator.columns.dense_features import init_table_rows
from torchestimator.columns.embedding import EmbeddingColumn, IndicatorColumn
from torchestimator.columns.inputs import is_numeric_kind
from torchestimator.columns.layer_base import ColumnLayer
from torchestimator.columns.numeric import numeric_shape_and_dtype
from torchestimator.columns.serialization import register_column_type
from torchestimator.errors import FeatureError, InvalidArgumentError
from torchestimator.parsing import Ragged, VarLenFeature

__all__ = [
    "SequenceCategoricalColumn",
    "SequenceFeatures",
    "SequenceNumericColumn",
    "sequence_categorical_column_with_hash_bucket",
    "sequence_categorical_column_with_identity",
    "sequence_categorical_column_with_vocabulary_file",
    "sequence_categorical_column_with_vocabulary_list",
    "sequence_numeric_column",
]


@register_column_type
@dataclasses.dataclass(frozen=True, eq=False)
class SequenceCategoricalColumn(CategoricalColumnView, _SequenceCategoricalBase):
    """A categorical column read as a sequence of ids (one per step)."""

    categorical_column: CategoricalColumn

    @property
    def name(self) -> str:
        return self.categorical_column.name

    @property
    def num_buckets(self) -> int:
        return self.categorical_column.num_buckets


def sequence_categorical_column_with_identity(
    key: str, num_buckets: int, default_value: int | None = None
) -> SequenceCategoricalColumn:
    """Sequence version of ``categorical_column_with_identity``."""
    return SequenceCategoricalColumn(categorical_column_with_identity(key, num_buckets, default_value))


def sequence_categorical_column_with_hash_bucket(
    key: str, hash_bucket_size: int, dtype: Any = "string"
) -> SequenceCategoricalColumn:
    """Sequence version of ``categorical_column_with_hash_bucket``."""
    return SequenceCategoricalColumn(categorical_column_with_hash_bucket(key, hash_bucket_size, dtype))


def sequence_categorical_column_with_vocabulary_list(
    key: str,
    vocabulary_list: Sequence[Any],
    dtype: Any = None,
    default_value: int = -1,
    num_oov_buckets: int = 0,
) -> SequenceCategoricalColumn:
    """Sequence version of ``categorical_column_with_vocabulary_list``."""
    return SequenceCategoricalColumn(
        categorical_column_with_vocabulary_list(key, vocabulary_list, dtype, default_value, num_oov_buckets)
    )


def sequence_categorical_column_with_vocabulary_file(
    key: str,
    vocabulary_file: str,
    vocabulary_size: int | None = None,
    num_oov_buckets: int = 0,
    default_value: int | None = None,
    dtype: Any = "string",
) -> SequenceCategoricalColumn:
    """Sequence version of ``categorical_column_with_vocabulary_file`` (TF's argument order)."""
    return SequenceCategoricalColumn(
        categorical_column_with_vocabulary_file(
            key, vocabulary_file, vocabulary_size, dtype, default_value, num_oov_buckets
        )
    )


@register_column_type
@dataclasses.dataclass(frozen=True, eq=False)
class SequenceNumericColumn(KeyedColumn, SequenceDenseColumn):
    """Real-valued steps of shape ``shape``; ``default_value`` pads short sequences."""

    key: str
    shape: tuple[int, ...] = (1,)
    default_value: float = 0.0
    dtype: str = "float32"
    normalizer_fn: Callable[[torch.Tensor], torch.Tensor] | None = None

    @property
    def step_width(self) -> int:
        return int(np.prod(self.shape))

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return {self.key: VarLenFeature(self.dtype)}

    def transform(self, cache: TransformCache) -> Ragged:
        """Steps as a Ragged of float32 values, row lengths in numbers (not steps)."""
        raw = cache.raw(self.key, self.name)
        if isinstance(raw, Ragged):
            values, splits = raw.values, raw.row_splits
        else:
            rows = raw.reshape(raw.shape[0], -1)
            values = rows.reshape(-1)
            splits = np.arange(rows.shape[0] + 1, dtype=np.int64) * rows.shape[1]
        if values.size and not is_numeric_kind(values):
            raise FeatureError(
                f"sequence_numeric_column {self.name!r} needs numbers; feature {self.key!r} has dtype {values.dtype}."
            )
        lengths = np.diff(splits)
        if (lengths % self.step_width).any():
            raise FeatureError(
                f"sequence_numeric_column {self.name!r}: a row has {int(lengths[(lengths % self.step_width) > 0][0])} "
                f"values, not a multiple of the step size {self.step_width} (shape {self.shape})."
            )
        out = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
        if self.normalizer_fn is not None:
            out = torch.as_tensor(self.normalizer_fn(out)).to(torch.float32)
            refuse_nan(
                out, f"sequence_numeric_column {self.name!r}: normalizer_fn's output for feature {self.key!r}"
            )
        return Ragged(out.numpy(), splits)


def sequence_numeric_column(
    key: str,
    shape: int | Sequence[int] = (1,),
    default_value: float = 0.0,
    dtype: Any = "float32",
    normalizer_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> SequenceNumericColumn:
    """A sequence of real-valued steps (TF ``sequence_numeric_column``).

    Raises:
        InvalidArgumentError: a bad shape or dtype.
    """
    shape_t, d = numeric_shape_and_dtype("sequence_numeric_column", key, shape, dtype)
    return SequenceNumericColumn(key, shape_t, float(default_value), d, normalizer_fn)


def _is_sequence_column(col: FeatureColumn) -> bool:
    if isinstance(col, SequenceNumericColumn):
        return True
    if isinstance(col, (EmbeddingColumn, IndicatorColumn)):
        return isinstance(col.categorical_column, SequenceCategoricalColumn)
    return False


class SequenceFeatures(ColumnLayer):
    """Sequence columns -> ``(dense (B, T, D), sequence_length (B,))`` (Keras ``SequenceFeatures``).

    Embedding tables are ``embeddings.<i>.weight`` (``nn.Embedding(sparse=True)``, one per table, in
    sorted-name order; ``table_index(name)`` gives ``i``). Padded steps are zero (numeric: ``default_value``).

    Raises:
        InvalidArgumentError: a non-sequence column.
    """

    def __init__(self, feature_columns: Sequence[FeatureColumn]) -> None:
        super().__init__(feature_columns)
        for col in self.feature_columns:
            if not _is_sequence_column(col):
                raise InvalidArgumentError(
                    f"SequenceFeatures: column {col.name!r} is not a sequence column; use sequence_numeric_column or "
                    "embedding_column / indicator_column over a sequence_categorical_column_*."
                )
        self._tables: dict[str, int] = {}
        self.embeddings = nn.ModuleList()
        for col in self.feature_columns:
            if isinstance(col, EmbeddingColumn) and col.table_name not in self._tables:
                nb = col.categorical_column.num_buckets
                table = nn.Embedding(nb, col.dimension, sparse=True)
                init_table_rows(table.weight, col, 0, nb)
                table.weight.requires_grad_(col.trainable)
                self._tables[col.table_name] = len(self.embeddings)
                self.embeddings.append(table)

    def table_index(self, column_name: str) -> int:
        """Index in ``embeddings`` of an embedding column's table."""
        for col in self.feature_columns:
            if col.name == column_name and isinstance(col, EmbeddingColumn):
                return self._tables[col.table_name]
        raise InvalidArgumentError(f"SequenceFeatures: no embedding column {column_name!r}.")

    def host_tensors(self, cache: TransformCache) -> dict[str, Any]:
        """Padded ``/<i>/values`` (B, T, d) or ``/<i>/ids`` (B, T), plus ``/lengths`` (B,)."""
        out = super().host_tensors(cache)
        steps: list[tuple[str, np.ndarray, np.ndarray]] = []  # (name, values, row lengths in steps)
        for col in self.feature_columns:
            if isinstance(col, SequenceNumericColumn):
                rag = cache.get(col)
                steps.append(
                    (
                        col.name,
                        rag.values.reshape(-1, col.step_width),
                        np.diff(rag.row_splits) // col.step_width,
                    )
                )
            else:
                ids = cache.get(col)
                steps.append((col.name, ids.values, np.diff(ids.row_splits)))
        lengths = steps[0][2]
        for name, _, other in steps[1:]:
            if other.shape != lengths.shape or not np.array_equal(other, lengths):
                raise FeatureError(
                    f"SequenceFeatures: column {name!r} has sequence lengths {other[:8].tolist()} but "
                    f"{steps[0][0]!r} has {lengths[:8].tolist()}; all sequence columns must have the same length."
                )
        batch, t_max = len(lengths), int(lengths.max()) if len(lengths) else 0
        row = np.repeat(np.arange(batch), lengths)
        step = np.arange(len(row)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        for i, (col, (_, values, _)) in enumerate(zip(self.feature_columns, steps)):
            if isinstance(col, SequenceNumericColumn):
                padded = np.full((batch, t_max, col.step_width), col.default_value, dtype=np.float32)
                padded[row, step] = values
                out[f"{self.key_prefix}/{i}/values"] = torch.from_numpy(padded)  # (B, T, d)
            else:
                nb = col.categorical_column.num_buckets  # type: ignore[attr-defined]
                if values.size and int(values.max()) >= nb:
                    raise FeatureError(
                        f"column {col.name!r} produced id {int(values.max())} >= num_buckets {nb}."
                    )
                padded_ids = np.full((batch, t_max), -1, dtype=np.int64)
                padded_ids[row, step] = values
                out[f"{self.key_prefix}/{i}/ids"] = torch.from_numpy(padded_ids)  # (B, T), -1 = no id
        out[f"{self.key_prefix}/lengths"] = torch.from_numpy(lengths.astype(np.int64))
        return out

    def forward(self, features: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T, D)`` padded sequence input and ``(B,)`` int64 sequence lengths."""
        t = self._inputs(features)
        pieces = []
        for i, col in enumerate(self.feature_columns):
            p = f"{self.key_prefix}/{i}"
            if isinstance(col, SequenceNumericColumn):
                pieces.append(t[f"{p}/values"])  # (B, T, d)
                continue
            ids = t[f"{p}/ids"]  # (B, T)
            mask = (ids >= 0).unsqueeze(-1)  # (B, T, 1)
            safe = ids.clamp_min(0)
            if isinstance(col, IndicatorColumn):
                nb = col.categorical_column.num_buckets
                pieces.append(F.one_hot(safe, nb).to(torch.float32) * mask)  # (B, T, nb)
            else:
                assert isinstance(col, EmbeddingColumn)
                weight = self.embeddings[self._tables[col.table_name]].weight
                assert isinstance(weight, torch.Tensor)
                vec = F.embedding(safe, weight, sparse=True)  # (B, T, D)
                if col.max_norm is not None:
                    norms = vec.norm(dim=-1, keepdim=True)
                    vec = vec * (col.max_norm / torch.clamp(norms, min=col.max_norm))
                pieces.append(vec * mask)  # (B, T, D)
        dense = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=-1)  # (B, T, D)
        return dense, t[f"{self.key_prefix}/lengths"]
