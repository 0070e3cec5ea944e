"""Planning the exported graph's inputs: which raw features go in-graph and which as host ids.

:func:`plan_wire` walks a model's column layers (``DenseFeatures``, ``LinearModel``) and records one
:class:`WireInput` per graph input in a :class:`WirePlan`, through each column type's export half
(:mod:`torchestimator.columns.export_registry`; built-ins: a ``dense`` (B, D) input for numeric and
bucketized columns, a ``padded`` (B, L) input for identity ids and combiner weights, and an ``ids``
(B, L) input for columns whose ids only the host can compute (hash, cross, vocabulary), carrying the
serialised column. Vocabulary columns without OOV buckets are also recorded as :class:`Lookup` s, which
the ONNX graph does itself (:meth:`WirePlan.onnx_inputs`). :func:`plan_tensors` adds pass-through
``tensor`` inputs for receiver features no column reads. The format as a whole is described in
:mod:`torchestimator.export.wire`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from torchestimator.columns.base import FeatureColumn
from torchestimator.columns.dense_features import DenseFeatures
from torchestimator.columns.export_registry import column_export
from torchestimator.columns.layer_base import ColumnLayer
from torchestimator.columns.linear_model import LinearModel
from torchestimator.columns.sequence import SequenceFeatures, SequenceNumericColumn
from torchestimator.errors import ExportError

__all__ = [
    "IDS_SUFFIX",
    "SEQUENCE_LENGTH_SUFFIX",
    "SEQUENCE_SUFFIX",
    "Lookup",
    "WireInput",
    "WirePlan",
    "plan_tensors",
    "plan_wire",
    "sequence_input_names",
]

IDS_SUFFIX = "__ids"
SEQUENCE_SUFFIX = "__seq"
SEQUENCE_LENGTH_SUFFIX = "__seq_length"


@dataclasses.dataclass(frozen=True)
class WireInput:
    """One graph input.

    Attributes:
        name: the graph input name.
        kind: ``dense`` (B, width), ``padded`` (B, L) raw values, ``ids`` (B, L) host-computed ids,
            ``sequence`` (B, T, width) host-padded steps of a sequence column (float32; int64 ids (B, T)
            for a categorical one, -1 = no step), ``sequence_length`` (B,) the steps per example.
        dtype: float32 / float64 / int32 / int64 / string.
        width: D of a dense input (None for padded / ids).
        key: the raw feature key (dense / padded).
        column: the serialised column whose host transform gives the ids (``ids``) or the steps
            (``sequence``, ``sequence_length``).
        group: inputs of one length group share their L (a weighted column's ids and weights).
        shape: the receiver's shape of a ``tensor`` input (``-1`` = any size; dim 0 is the batch).
        num_buckets: identity ids of a ``padded`` input must be below this (a column without
            ``default_value``); the host step raises as training does.
    """

    name: str
    kind: str
    dtype: str
    width: int | None = None
    key: str | None = None
    column: dict[str, Any] | None = None
    group: str | None = None
    shape: tuple[int, ...] | None = None
    num_buckets: int | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WireInput:
        fields = dict(data)
        if fields.get("shape") is not None:
            fields["shape"] = tuple(fields["shape"])
        return cls(**fields)


@dataclasses.dataclass
class Lookup:
    """A vocabulary column the ONNX graph looks up itself: raw ``key`` -> ``ids_name``."""

    ids_name: str
    key: str
    dtype: str
    vocabulary: list[Any]
    default_value: int


@dataclasses.dataclass
class WirePlan:
    """Inputs of the torch graph (``inputs``) and the vocabulary lookups ONNX does in-graph."""

    inputs: dict[str, WireInput] = dataclasses.field(default_factory=dict)
    lookups: dict[str, Lookup] = dataclasses.field(default_factory=dict)
    layers: list[ColumnLayer] = dataclasses.field(default_factory=list)
    ids_names: dict[FeatureColumn, str] = dataclasses.field(default_factory=dict)

    def add(self, item: WireInput) -> str:
        old = self.inputs.get(item.name)
        if old is not None and old != item:
            raise ExportError(
                f"feature {item.key or item.name!r} is read two incompatible ways by the model's columns "
                f"({old.kind} {old.dtype} vs {item.kind} {item.dtype}); export needs one representation per "
                "feature. Use separate feature keys for the two columns."
            )
        self.inputs[item.name] = item
        return item.name

    def plan_column(self, column: FeatureColumn, group: str | None = None) -> str | None:
        """Plan ``column`` through its type's export half (``columns.export_registry``).

        Returns:
            The length group of the column's ids (None for a dense column).
        """
        return column_export(column).plan(self, column, group)

    def add_dense(self, key: str, dtype: str, width: int) -> str:
        """A ``dense`` (B, width) input of raw feature ``key``."""
        return self.add(WireInput(key, "dense", dtype, width=width, key=key))

    def add_padded(self, key: str, dtype: str, group: str | None, num_buckets: int | None = None) -> str:
        """A ``padded`` (B, L) input of raw feature ``key``.

        Identity ids read by several columns keep one input, bounded by the strictest ``num_buckets``.
        """
        old = self.inputs.get(key)
        if (
            old is not None
            and dtype == "int64"
            and old.kind == "padded"
            and old.dtype == "int64"
            and old.num_buckets != num_buckets
        ):
            limits = [n for n in (old.num_buckets, num_buckets) if n is not None]
            self.inputs[key] = dataclasses.replace(old, num_buckets=min(limits))
            return key
        return self.add(WireInput(key, "padded", dtype, key=key, group=group, num_buckets=num_buckets))

    def add_host_ids(self, column: FeatureColumn, group: str) -> str:
        """An ``ids`` (B, L) input the host computes with ``column``'s transform; returns its name."""
        name = self.ids_names.get(column)
        if name is None:
            name = column.name + IDS_SUFFIX
            if name in self.ids_names.values():  # two columns, one name (vocabulary + hashed view of a key)
                name = f"{column.name}__{type(column).__name__}{IDS_SUFFIX}"
            self.ids_names[column] = name
        return self.add(WireInput(name, "ids", "int64", column=_serialized(column), group=group))

    def add_lookup(
        self, ids_name: str, key: str, dtype: str, vocabulary: list[Any], default_value: int
    ) -> None:
        """The ONNX graph computes ``ids_name`` from raw ``key`` by looking ``vocabulary`` up."""
        self.lookups[ids_name] = Lookup(ids_name, key, dtype, vocabulary, default_value)

    def onnx_inputs(self) -> dict[str, WireInput]:
        """The ONNX graph's inputs: lookup ids replaced by their raw (padded) features."""
        out: dict[str, WireInput] = {}
        for name, item in self.inputs.items():
            lookup = self.lookups.get(name)
            if lookup is None:
                out[name] = item
            elif lookup.key not in out:
                out[lookup.key] = WireInput(
                    lookup.key, "padded", lookup.dtype, key=lookup.key, group=item.group
                )
        return out


def _serialized(column: FeatureColumn) -> dict[str, Any]:
    from torchestimator.columns.serialization import serialize_column

    return serialize_column(column)


def plan_wire(module: nn.Module) -> WirePlan:
    """Walk the model's column layers and decide every graph input.

    Raises:
        ExportError: a model without column layers, or an unsupported column.
    """
    plan = WirePlan()
    plan.layers = [m for m in module.modules() if isinstance(m, ColumnLayer)]
    for layer in plan.layers:
        planner = next((fn for cls, fn in _LAYER_PLANS.items() if isinstance(layer, cls)), None)
        if planner is None:
            raise ExportError(
                "export supports DenseFeatures, LinearModel and SequenceFeatures column layers; the model has "
                f"{type(layer).__name__}."
            )
        planner(plan, layer)
    return plan


def _plan_columns(plan: WirePlan, layer: ColumnLayer) -> None:
    for col in layer.feature_columns:
        plan.plan_column(col)


def sequence_input_names(layer: SequenceFeatures) -> tuple[list[str], str]:
    """The graph inputs of a ``SequenceFeatures`` layer: one per column (its order) and the lengths."""
    names = [col.name + SEQUENCE_SUFFIX for col in layer.feature_columns]
    return names, layer.feature_columns[0].name + SEQUENCE_LENGTH_SUFFIX


def _plan_sequence_layer(plan: WirePlan, layer: SequenceFeatures) -> None:
    """Sequence columns go padded by the host (their own transforms), sharing one number of steps."""
    names, length_name = sequence_input_names(layer)
    for col, name in zip(layer.feature_columns, names):
        numeric = isinstance(col, SequenceNumericColumn)
        plan.add(
            WireInput(
                name,
                "sequence",
                "float32" if numeric else "int64",
                width=col.step_width if isinstance(col, SequenceNumericColumn) else None,
                column=_serialized(col),
                group=length_name,
            )
        )
    first = layer.feature_columns[0]
    plan.add(WireInput(length_name, "sequence_length", "int64", column=_serialized(first), group=length_name))


def plan_tensors(plan: WirePlan, specs: Mapping[str, Any]) -> list[str]:
    """Add a pass-through ``tensor`` input for every numeric receiver feature in ``specs``.

    Args:
        plan: the columns' plan (extended in place).
        specs: ``{key: TensorSpec}`` of receiver features no column reads.

    Returns:
        The string features left out (a graph cannot take them raw; the model must not read them).
    """
    strings = []
    for key, spec in specs.items():
        if spec.dtype == "string":
            strings.append(key)
            continue
        if len(spec.shape) < 1:
            raise ExportError(
                f"receiver feature {key!r} needs a batch dimension; received shape {spec.shape}."
            )
        shape = (-1, *(-1 if d is None else int(d) for d in spec.shape[1:]))
        plan.add(WireInput(key, "tensor", spec.dtype, key=key, shape=shape))
    return strings


_LAYER_PLANS: dict[type, Callable[[WirePlan, Any], None]] = {
    SequenceFeatures: _plan_sequence_layer,
    DenseFeatures: _plan_columns,
    LinearModel: _plan_columns,
}
