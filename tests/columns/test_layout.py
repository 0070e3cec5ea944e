"""``layout()`` of the column layers: a frozen description that agrees with the layers' own accessors."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import torchestimator.tf_bridge.column_contract as contract
from torchestimator.columns import (
    DenseFeatures,
    LinearModel,
    categorical_column_with_hash_bucket,
    categorical_column_with_identity,
    embedding_column,
    numeric_column,
    shared_embeddings,
)


def _dense_features() -> DenseFeatures:
    a = categorical_column_with_identity("a", 5)
    b = categorical_column_with_identity("b", 5)
    c = categorical_column_with_hash_bucket("c", 3)
    shared = shared_embeddings([a, b], dimension=4)
    return DenseFeatures(
        [
            numeric_column("aa"),
            *shared,
            embedding_column(c, 4, trainable=False),
            numeric_column("z", shape=(2,)),
        ]
    )


def test_dense_features_layout_matches_table_rows_and_weights() -> None:
    layer = _dense_features()
    layout = layer.layout()
    assert [t.key for t in layout.fused_tables] == ["dim4", "dim4_frozen"]
    for table in layout.fused_tables:
        assert table.rows == layer.embedding_tables[table.key].weight.shape[0]  # spans tile the weight
        starts = [s.start for s in table.spans]
        assert starts == sorted(starts) and starts[0] == 0
        assert all(a.stop == b.start for a, b in zip(table.spans, table.spans[1:]))
        for column, start in zip(table.columns, table.column_starts()):
            assert layer.table_rows(column.name) == (table.key, start, table.span(column.table_name).rows)
    shared_table = layout.fused_table("dim4")
    assert len(shared_table.spans) == 1 and len(shared_table.columns) == 2  # one table, read by two columns
    assert [[c.name for c in block] for block in layout.host_blocks] == [["aa"], ["z"]]


def test_linear_model_layout_matches_column_rows() -> None:
    layer = LinearModel(
        [
            categorical_column_with_identity("a", 5),
            numeric_column("x"),
            categorical_column_with_hash_bucket("b", 7),
        ]
    )
    layout = layer.layout()
    assert [c.name for c in layout.sparse_columns] == ["a", "b"]
    for span in layout.spans:
        assert (span.start, span.rows) == layer.column_rows(span.name)
    assert layout.span("x") is None
    assert sum(s.rows for s in layout.spans) == layer.sparse_weights.weight.shape[0]


def test_layouts_are_frozen() -> None:
    layout = _dense_features().layout()
    with pytest.raises(dataclasses.FrozenInstanceError):
        layout.fused_tables = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        layout.fused_tables[0].spans[0].start = 3  # type: ignore[misc]


def test_key_prefix_is_the_contracts_digest_of_the_column_state() -> None:
    layer = LinearModel([categorical_column_with_identity("a", 5)], sparse_combiner="mean")
    state = layer.get_extra_state()
    assert state["format"] == contract.STATE_FORMAT
    digest = contract.layer_digest("LinearModel", {"units": 1, "sparse_combiner": "mean"}, state["columns"])
    assert layer.key_prefix == f"__tecol__/LinearModel/{digest}"
    other = contract.layer_digest("LinearModel", {"units": 1, "sparse_combiner": "sum"}, state["columns"])
    assert other != digest  # the bridge recovers the combiner by this difference


def test_the_contract_is_stdlib_only() -> None:
    tree = ast.parse(Path(contract.__file__).read_text(encoding="utf-8"))
    roots = {
        (alias.name if isinstance(node, ast.Import) else str(node.module)).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert roots <= {"__future__", "collections", "hashlib", "json", "typing"}, roots
