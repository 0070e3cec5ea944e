"""Columns <-> JSON (for checkpoints and exports).

Format: ``{"type": "<ClassName>", "config": {field: value}}``, nested columns serialised the same way.
A callable (``normalizer_fn``, an embedding ``initializer``) cannot go to JSON: it is stored as
``{"callable": "module:qualname"}`` and resolved on the way back from ``custom_objects`` (by
qualified name or bare name) or by importing it, so it must be importable or re-supplied. A
vocabulary file column also records the sha256 of the vocabulary lines it uses.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from torchestimator.columns.base import FeatureColumn
from torchestimator.columns.categorical import (
    HashedCategoricalColumn,
    IdentityCategoricalColumn,
    VocabularyFileCategoricalColumn,
    VocabularyListCategoricalColumn,
    WeightedCategoricalColumn,
)
from torchestimator.columns.crossed import CrossedColumn
from torchestimator.columns.embedding import EmbeddingColumn, IndicatorColumn, SharedEmbeddingColumn
from torchestimator.columns.numeric import BucketizedColumn, NumericColumn
from torchestimator.errors import InvalidArgumentError

__all__ = ["deserialize_column", "register_column_type", "serialize_column", "serialize_columns_json"]

_REGISTRY: dict[str, type[FeatureColumn]] = {
    cls.__name__: cls
    for cls in (
        NumericColumn,
        BucketizedColumn,
        HashedCategoricalColumn,
        VocabularyListCategoricalColumn,
        VocabularyFileCategoricalColumn,
        IdentityCategoricalColumn,
        WeightedCategoricalColumn,
        CrossedColumn,
        IndicatorColumn,
        EmbeddingColumn,
        SharedEmbeddingColumn,
    )
}


def register_column_type(cls: type[FeatureColumn]) -> type[FeatureColumn]:
    """Make a column class known to :func:`deserialize_column` (usable as a decorator)."""
    _REGISTRY[cls.__name__] = cls
    return cls


def callable_name(fn: Callable[..., Any]) -> str:
    """``"module:qualname"`` of a callable."""
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def _encode(value: Any) -> Any:
    if isinstance(value, FeatureColumn):
        return serialize_column(value)
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    if callable(value):
        return {"callable": callable_name(value)}
    return value


def serialize_column(column: FeatureColumn) -> dict[str, Any]:
    """A JSON-ready dict describing ``column`` (see the module docstring).

    Example:
        >>> from torchestimator.columns import numeric_column
        >>> serialize_column(numeric_column("age"))["type"]
        'NumericColumn'
    """
    if not dataclasses.is_dataclass(column):
        raise InvalidArgumentError(f"serialize_column: {column!r} is not a feature column.")
    config = {f.name: _encode(getattr(column, f.name)) for f in dataclasses.fields(column)}
    out: dict[str, Any] = {"type": type(column).__name__, "config": config}
    if isinstance(column, VocabularyFileCategoricalColumn):
        out["vocabulary_sha256"] = column.content_hash()
    return out


def serialize_columns_json(columns: list[FeatureColumn]) -> str:
    """Canonical JSON text of a list of columns (sorted keys; used for identity checks)."""
    return json.dumps([serialize_column(c) for c in columns], sort_keys=True, ensure_ascii=False)


def _resolve_callable(name: str, custom_objects: Mapping[str, Any]) -> Callable[..., Any]:
    short = name.split(":")[-1]
    for key in (name, short):
        if key in custom_objects:
            return custom_objects[key]
    module_name, _, qualname = name.partition(":")
    if "<" not in qualname:
        try:
            obj: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                obj = getattr(obj, part)
            return obj
        except (ImportError, AttributeError):
            pass
    raise InvalidArgumentError(
        f"cannot resolve the callable {name!r} stored in a serialised column; pass it as "
        f"custom_objects={{{short!r}: fn}} (lambdas and local functions are never importable)."
    )


def _decode(value: Any, custom_objects: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        if "callable" in value:
            return _resolve_callable(value["callable"], custom_objects)
        return deserialize_column(value, custom_objects)
    if isinstance(value, list):
        return tuple(_decode(v, custom_objects) for v in value)
    return value


def deserialize_column(
    config: Mapping[str, Any], custom_objects: Mapping[str, Any] | None = None
) -> FeatureColumn:
    """Rebuild a column from :func:`serialize_column` output.

    Args:
        config: the serialised dict.
        custom_objects: callables by qualified or bare name (normalizer_fn, initializer).

    Returns:
        The column, equal to the one serialised.

    Raises:
        InvalidArgumentError: an unknown type, bad fields, or an unresolvable callable.
    """
    type_name = config.get("type")
    cls = _REGISTRY.get(str(type_name))
    if cls is None:
        raise InvalidArgumentError(
            f"deserialize_column: unknown column type {type_name!r}; known: {sorted(_REGISTRY)}."
        )
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    raw = dict(config.get("config", {}))
    unknown = set(raw) - fields
    if unknown:
        raise InvalidArgumentError(f"deserialize_column: {type_name} has no fields {sorted(unknown)}.")
    kwargs = {k: _decode(v, custom_objects or {}) for k, v in raw.items()}
    return cls(**kwargs)
