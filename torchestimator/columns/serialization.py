"""Columns <-> JSON (for checkpoints and exports).

Format: ``{"type": "<ClassName>", "config": {field: value}}``, nested columns serialised the same way.
A callable (``normalizer_fn``, an embedding ``initializer``) cannot go to JSON: it is stored as
``{"callable": "module:qualname"}`` and resolved on the way back only from what the caller trusts:
``custom_objects`` (by qualified or bare name), then the explicit registry filled by
:func:`register_callable`. A name read from disk is never imported (``"os:system"`` in a hostile
manifest must not become a call), so a callable that is in neither is an error that names it and says
how to pass it. A vocabulary file column also records the sha256 of the vocabulary lines it uses.

>>> import torch
>>> @register_callable
... def double(x: torch.Tensor) -> torch.Tensor:
...     return x * 2
>>> _resolve_callable(callable_name(double), {}) is double
True
"""

from __future__ import annotations

import dataclasses
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
from torchestimator.errors import InvalidArgumentError, TorchEstimatorError

__all__ = [
    "deserialize_column",
    "register_callable",
    "register_column_type",
    "serialize_column",
    "serialize_columns_json",
]

_MAX_DEPTH = 64  # ours nest a few levels (a cross of a bucketized numeric); deeper JSON is hostile
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


_CALLABLES: dict[str, Callable[..., Any]] = {}


def register_callable(fn: Callable[..., Any], name: str | None = None) -> Callable[..., Any]:
    """Let :func:`deserialize_column` resolve ``fn`` by name without ``custom_objects`` (usable as a decorator).

    Args:
        fn: the callable (a ``normalizer_fn``, an ``initializer``).
        name: the name to register; defaults to ``"module:qualname"`` as :func:`serialize_column` writes it.

    Returns:
        ``fn`` unchanged.

    Raises:
        InvalidArgumentError: ``fn`` is not callable.
    """
    if not callable(fn):
        raise InvalidArgumentError(f"register_callable: {fn!r} is not callable.")
    _CALLABLES[name or callable_name(fn)] = fn
    return fn


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


def _resolve_callable(name: object, custom_objects: Mapping[str, Any]) -> Callable[..., Any]:
    """``custom_objects[name]``, then the bare name, then the registry; never an import of ``name``."""
    if not isinstance(name, str):
        raise InvalidArgumentError(
            f"a serialised column names a callable by {name!r}; expected 'module:qualname'."
        )
    short = name.split(":")[-1]
    for key in (name, short):
        if key in custom_objects:
            return custom_objects[key]
    if name in _CALLABLES:
        return _CALLABLES[name]
    raise InvalidArgumentError(
        f"the serialised column names the callable {name!r}, which was not supplied: callables are never "
        f"imported from names read from disk. Pass it as custom_objects={{{short!r}: fn}} (to serving.load "
        "or deserialize_column), or register it once with "
        "torchestimator.columns.serialization.register_callable(fn)."
    )


def _decode(value: Any, custom_objects: Mapping[str, Any], depth: int) -> Any:
    if isinstance(value, dict):
        if "callable" in value:
            return _resolve_callable(value["callable"], custom_objects)
        return _deserialize(value, custom_objects, depth + 1)
    if isinstance(value, list):
        if depth > _MAX_DEPTH:
            raise InvalidArgumentError(f"deserialize_column: lists nested more than {_MAX_DEPTH} deep.")
        return tuple(_decode(v, custom_objects, depth + 1) for v in value)
    return value


def deserialize_column(
    config: Mapping[str, Any], custom_objects: Mapping[str, Any] | None = None
) -> FeatureColumn:
    """Rebuild a column from :func:`serialize_column` output.

    Args:
        config: the serialised dict (untrusted: read from a checkpoint or an export).
        custom_objects: callables by qualified or bare name (normalizer_fn, initializer); see
            :func:`register_callable` for the alternative. Names read from ``config`` are never imported.

    Returns:
        The column, equal to the one serialised.

    Raises:
        InvalidArgumentError: an unknown type, bad fields, or a callable neither supplied nor registered.
    """
    return _deserialize(config, custom_objects or {}, 0)


def _deserialize(config: Any, custom_objects: Mapping[str, Any], depth: int) -> FeatureColumn:
    if not isinstance(config, Mapping) or not isinstance(config.get("config", {}), Mapping):
        raise InvalidArgumentError(
            f"deserialize_column: expected {{'type': ..., 'config': {{...}}}}; received {str(config)[:80]!r}."
        )
    if depth > _MAX_DEPTH:
        raise InvalidArgumentError(f"deserialize_column: columns nested more than {_MAX_DEPTH} deep.")
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
    kwargs = {k: _decode(v, custom_objects, depth) for k, v in raw.items()}
    try:
        return cls(**kwargs)
    except TorchEstimatorError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise InvalidArgumentError(f"deserialize_column: bad {type_name} config {raw!r:.200}: {exc}") from exc
