"""The variables warm start can address, by name, in a live module and in a checkpoint.

Warm start works on *variables* in TF's sense: one logical weight each, even where torchestimator
stores several of them in one fused tensor. A variable is a slice of rows of one ``state_dict``
tensor::

    plain tensor                 name = its state_dict key         e.g. "tower.0.weight"
    DenseFeatures table          "<layer path>/<table>/embedding_weights"
                                 rows of <layer path>.embedding_tables.<group>.weight
    SequenceFeatures table       "<layer path>/<table>/embedding_weights"
                                 the whole <layer path>.embeddings.<i>.weight
    LinearModel categorical      "<layer path>/<column>/weights"
                                 rows of <layer path>.sparse_weights.weight

``<layer path>`` is the column layer's dotted module path (``""`` at the top level, then the name has
no leading ``/``), ``<table>`` the embedding column's table name (its own name, e.g.
``"word_embedding"``, or a shared-embedding collection name). A fused tensor is never a plain
variable itself: its columns' rows are.

In a checkpoint the same layouts are rebuilt from the column layers' JSON ``_extra_state`` (the
column specs travel with the weights), so an old model with a different vocabulary, and hence
different row offsets, is still addressed by column.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from torchestimator.errors import CheckpointError

__all__ = ["WarmStartVariable", "checkpoint_variables", "layer_tables", "module_variables"]

_EXTRA_STATE = "_extra_state"


@dataclasses.dataclass(frozen=True)
class WarmStartVariable:
    """One addressable variable: ``rows`` rows of ``state_dict[key]`` from ``start`` (all rows if None).

    Args:
        name: the warm-start name (see the module docstring).
        key: the ``state_dict`` key of the tensor that holds it.
        start: its first row in that tensor.
        rows: its row count, or None for the whole tensor.
        trainable: whether it is trained (``requires_grad`` parameter or a trainable column table).
    """

    name: str
    key: str
    start: int = 0
    rows: int | None = None
    trainable: bool = True

    def view(self, tensor: torch.Tensor) -> torch.Tensor:
        """The variable's rows of ``tensor`` (a view: writes go to ``tensor``)."""
        if self.rows is None:
            return tensor
        return tensor[self.start : self.start + self.rows]


# (name suffix, key suffix, first row, row count or None, trainable)
_Table = tuple[str, str, int, "int | None", bool]


def layer_tables(layer: str, columns: Sequence[Any]) -> list[_Table]:
    """The column-addressed tables of one column layer, laid out exactly as the layer lays them out.

    Args:
        layer: ``"DenseFeatures"``, ``"SequenceFeatures"`` or ``"LinearModel"`` (others have none).
        columns: the layer's feature columns (sorted here by name, as the layers sort them).

    Returns:
        ``(name suffix, state_dict key suffix, first row, rows, trainable)`` per table.
    """
    from torchestimator.columns.base import CategoricalColumn
    from torchestimator.columns.embedding import EmbeddingColumn

    cols = sorted(columns, key=lambda c: c.name)
    out: list[_Table] = []
    if layer == "DenseFeatures":
        # mirrors DenseFeatures.__init__: one fused bag per (dimension, trainable, max_norm)
        groups: dict[tuple[int, bool, float | None], tuple[str, dict[str, tuple[int, int]]]] = {}
        rows: dict[tuple[int, bool, float | None], int] = {}
        for col in cols:
            if not isinstance(col, EmbeddingColumn):
                continue
            gk = (col.dimension, col.trainable, col.max_norm)
            if gk not in groups:
                name = f"dim{col.dimension}" + ("" if col.trainable else "_frozen")
                if col.max_norm is not None:
                    name += f"_maxnorm{sum(1 for k in groups if k[2] is not None)}"
                groups[gk], rows[gk] = (name, {}), 0
            group_key, tables = groups[gk]
            if col.table_name not in tables:
                nb = col.categorical_column.num_buckets
                tables[col.table_name] = (rows[gk], nb)
                rows[gk] += nb
                out.append(
                    (
                        f"{col.table_name}/embedding_weights",
                        f"embedding_tables.{group_key}.weight",
                        rows[gk] - nb,
                        nb,
                        col.trainable,
                    )
                )
    elif layer == "SequenceFeatures":
        seen: list[str] = []
        for col in cols:
            if isinstance(col, EmbeddingColumn) and col.table_name not in seen:
                seen.append(col.table_name)
                out.append(
                    (
                        f"{col.table_name}/embedding_weights",
                        f"embeddings.{len(seen) - 1}.weight",
                        0,
                        None,
                        col.trainable,
                    )
                )
    elif layer == "LinearModel":
        start = 0
        for col in cols:
            if isinstance(col, CategoricalColumn):
                out.append((f"{col.name}/weights", "sparse_weights.weight", start, col.num_buckets, True))
                start += col.num_buckets
    return out


def _join(path: str, suffix: str, sep: str) -> str:
    return f"{path}{sep}{suffix}" if path else suffix


def _collect(
    tables_by_path: Mapping[str, list[_Table]], tensor_keys: Sequence[str], trainable_keys: set[str]
) -> dict[str, WarmStartVariable]:
    out: dict[str, WarmStartVariable] = {}
    fused: set[str] = set()
    for path, tables in tables_by_path.items():
        for suffix, key_suffix, start, rows, trainable in tables:
            key = _join(path, key_suffix, ".")
            fused.add(key)
            name = _join(path, suffix, "/")
            out[name] = WarmStartVariable(name, key, start, rows, trainable and key in trainable_keys)
    for key in tensor_keys:
        if key not in fused:
            out[key] = WarmStartVariable(key, key, 0, None, key in trainable_keys)
    return out


def module_variables(module: torch.nn.Module) -> dict[str, WarmStartVariable]:
    """Every warm-startable variable of a live module, by name.

    ``trainable`` is ``requires_grad`` of the parameter (False for buffers).
    """
    from torchestimator.columns.layer_base import ColumnLayer

    tables: dict[str, list[_Table]] = {}
    for path, sub in module.named_modules():
        if isinstance(sub, ColumnLayer):
            tables[path] = layer_tables(type(sub).__name__, sub.feature_columns)
    trainable = {n for n, p in module.named_parameters() if p.requires_grad}
    keys = [k for k, v in module.state_dict(keep_vars=True).items() if isinstance(v, torch.Tensor)]
    return _collect(tables, keys, trainable)


def checkpoint_variables(model_state: Mapping[str, Any], source: str) -> dict[str, WarmStartVariable]:
    """Every variable stored in a checkpoint's model state (``CheckpointState.model``), by name.

    Raises:
        CheckpointError: a column layer's stored specs cannot be rebuilt.
    """
    from torchestimator.columns.layer_base import PlaceholderCallables
    from torchestimator.columns.serialization import deserialize_column

    tables: dict[str, list[_Table]] = {}
    for key, value in model_state.items():
        if not (key == _EXTRA_STATE or key.endswith("." + _EXTRA_STATE)) or not isinstance(value, Mapping):
            continue
        layer = value.get("layer")
        if layer not in ("DenseFeatures", "SequenceFeatures", "LinearModel"):
            continue
        path = key[: -len(_EXTRA_STATE)].rstrip(".")
        try:
            columns = [deserialize_column(c, PlaceholderCallables()) for c in value.get("columns", [])]
        except Exception as err:  # any failure here means the stored specs are unusable
            raise CheckpointError(
                f"warm start: cannot rebuild the feature columns of {layer} {path or '<top level>'!r} stored in "
                f"{source}: {err}. (A vocabulary file column needs its file where it was when the checkpoint was written.)"
            ) from err
        tables[path] = layer_tables(str(layer), columns)
    keys = [k for k, v in model_state.items() if isinstance(v, torch.Tensor)]
    return _collect(tables, keys, set(keys))
