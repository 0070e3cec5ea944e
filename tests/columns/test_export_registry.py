"""columns.export_registry: export finds every column type's half in the registry, so a new column type
exports after one registration beside its class, with no edit to export/. Oracle: numpy on the raw
values; the registry's lookup order (the column's MRO); an AST scan of export/ for column-class switches."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import torchestimator
from torchestimator import feature_column as fc
from torchestimator.columns import base as column_base
from torchestimator.columns import export_registry
from torchestimator.columns.base import DenseColumn, KeyedColumn, TransformCache
from torchestimator.columns.export_registry import ColumnExport, column_export, register_column_export
from torchestimator.errors import ExportError, InvalidArgumentError
from torchestimator.export.graph_inputs import GraphBuilder, build_layer_inputs
from torchestimator.export.wire_plan import plan_wire

EXPORT_DIR = Path(torchestimator.__file__).parent / "export"


@dataclasses.dataclass(frozen=True, eq=False)
class ScaledColumn(KeyedColumn, DenseColumn):
    """A toy dense column: ``key`` times ``scale``, float32 (B, 1)."""

    key: str
    scale: float = 2.0

    @property
    def variable_shape(self) -> tuple[int, ...]:
        return (1,)

    def transform(self, cache: TransformCache) -> torch.Tensor:
        raw = np.asarray(cache.raw(self.key, self.name), np.float32).reshape(-1, 1)
        return torch.from_numpy(raw * np.float32(self.scale))


def _plan_scaled(planner: Any, col: ScaledColumn, group: str | None) -> None:
    planner.add_dense(col.key, "float32", 1)


def _scaled_dense(graph: Any, col: ScaledColumn) -> torch.Tensor:
    return graph.wire[col.key].reshape(graph.batch, 1).to(torch.float32) * col.scale


class _Model(nn.Module):
    def __init__(self, columns: list[Any]) -> None:
        super().__init__()
        self.layer = fc.DenseFeatures(columns)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(export_registry, "_REGISTRY", dict(export_registry._REGISTRY))


def test_an_unregistered_column_type_is_an_error_naming_it_and_the_fix(registry: None) -> None:
    model = _Model([ScaledColumn("x"), fc.numeric_column("n")])
    with pytest.raises(ExportError, match=r"'x' \(ScaledColumn\).*register_column_export\(ScaledColumn"):
        plan_wire(model)


def test_a_registered_column_type_exports_without_touching_export(registry: None) -> None:
    register_column_export(ScaledColumn, ColumnExport(_plan_scaled, dense=_scaled_dense))
    x = np.array([[1.5], [-2.0], [0.25]], np.float32)
    n = np.array([[3.0], [4.0], [5.0]], np.float32)
    model = _Model([ScaledColumn("x", scale=3.0), fc.numeric_column("n")])
    plan = plan_wire(model)
    assert {(i.name, i.kind, i.width) for i in plan.inputs.values()} == {("x", "dense", 1), ("n", "dense", 1)}
    builder = GraphBuilder({"x": torch.from_numpy(x), "n": torch.from_numpy(n)}, plan.ids_names)
    out = build_layer_inputs(builder, plan.layers)
    expected = np.concatenate([n, x * 3.0], axis=1)  # DenseFeatures orders its columns by name: n, x
    np.testing.assert_allclose(out[f"{model.layer.key_prefix}/dense0"].numpy(), expected)


def test_a_half_without_a_dense_part_is_refused_by_name(registry: None) -> None:
    register_column_export(ScaledColumn, ColumnExport(_plan_scaled))
    builder = GraphBuilder({"x": torch.ones(2, 1)}, {})
    with pytest.raises(ExportError, match=r"'x' \(ScaledColumn\) cannot be exported as a dense input"):
        builder.dense(ScaledColumn("x"))


def test_lookup_uses_the_nearest_registered_base_class() -> None:
    hashed = fc.categorical_column_with_hash_bucket("h", 10)
    assert column_export(hashed) is export_registry._REGISTRY[column_base.CategoricalColumn]
    embedded = fc.embedding_column(hashed, 4)
    assert column_export(embedded) is export_registry._REGISTRY[column_base.CategoricalColumnView]
    identity = fc.categorical_column_with_identity("i", 3)
    assert column_export(identity) is export_registry._REGISTRY[type(identity)]


def test_registration_checks_its_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="ColumnExport"):
        register_column_export(ScaledColumn, _plan_scaled)  # type: ignore[arg-type]


# SequenceFeatures' inputs are padded by the host and passed through: its two branches on the sequence
# column kind name a graph input's role, not a column type's export half.
ALLOWED_SWITCHES = {"SequenceNumericColumn"}


def test_export_does_not_switch_on_column_classes() -> None:
    column_classes = {
        name
        for name, value in vars(torchestimator.columns).items()
        if isinstance(value, type) and issubclass(value, column_base.FeatureColumn)
    } | {"CategoricalColumnView", "SequenceNumericColumn"}
    found = []
    for path in sorted(EXPORT_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
                names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                found += [f"{path.name}: {n}" for n in names & column_classes - ALLOWED_SWITCHES]
    assert "NumericColumn" in column_classes and "IdentityCategoricalColumn" in column_classes
    assert not found, f"export/ switches on column classes (register an export half instead): {found}"


def test_a_new_dense_column_type_trains_through_dense_features_with_no_edit_to_the_layer() -> None:
    """DenseFeatures reads a column type it does not know through ``DenseColumn.host_dense`` (its own
    transform): the layer's output equals numpy on the raw values, and a wrong-width transform is named."""
    raw = np.array([[1.0], [-2.0], [0.5]], np.float32)
    layer = fc.DenseFeatures([ScaledColumn("x", scale=3.0), fc.numeric_column("y")])
    out = layer({"x": raw, "y": raw + 1})
    np.testing.assert_allclose(out.detach().numpy(), np.concatenate([raw * 3.0, raw + 1], axis=1))

    @dataclasses.dataclass(frozen=True, eq=False)
    class TooWide(ScaledColumn):
        @property
        def variable_shape(self) -> tuple[int, ...]:
            return (2,)

    with pytest.raises(Exception, match=r"'x'.*\(batch, 2\)"):
        fc.DenseFeatures([TooWide("x")])({"x": raw})
