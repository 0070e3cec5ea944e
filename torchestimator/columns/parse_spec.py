"""``make_parse_example_spec`` and the classifier / regressor variants (TF names and defaults)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torchestimator.columns.base import FeatureColumn
from torchestimator.columns.numeric import NumericColumn
from torchestimator.errors import InvalidArgumentError
from torchestimator.parsing import FixedLenFeature

__all__ = ["classifier_parse_example_spec", "make_parse_example_spec", "regressor_parse_example_spec"]


def make_parse_example_spec(feature_columns: Iterable[FeatureColumn]) -> dict[str, Any]:
    """Merge the columns' parse specs into ``{key: FixedLenFeature | VarLenFeature}``.

    Raises:
        InvalidArgumentError: a non-column item, or two columns needing different specs for one key.

    Example:
        >>> from torchestimator.columns import numeric_column
        >>> make_parse_example_spec([numeric_column("age")])
        {'age': FixedLenFeature(shape=(1,), dtype='float32', default_value=None)}
    """
    spec: dict[str, Any] = {}
    for col in feature_columns:
        if not isinstance(col, FeatureColumn):
            raise InvalidArgumentError(
                f"make_parse_example_spec: expected feature columns; received {col!r}."
            )
        for key, value in col.parse_example_spec.items():
            if key in spec and spec[key] != value:
                raise InvalidArgumentError(
                    f"make_parse_example_spec: feature {key!r} has conflicting specs {spec[key]} and {value}."
                )
            spec[key] = value
    return spec


def _add_label_and_weight(
    spec: dict[str, Any],
    label_key: str,
    label_spec: FixedLenFeature,
    weight_column: str | NumericColumn | None,
) -> dict[str, Any]:
    if label_key in spec:
        raise InvalidArgumentError(
            f"label_key {label_key!r} is also a feature ({spec[label_key]}); use a different label key."
        )
    spec[label_key] = label_spec
    if weight_column is not None:
        weight = NumericColumn(weight_column, (1,)) if isinstance(weight_column, str) else weight_column
        spec.update(make_parse_example_spec([weight]))
    return spec


def classifier_parse_example_spec(
    feature_columns: Iterable[FeatureColumn],
    label_key: str,
    label_dtype: Any = "int64",
    label_default: Any = None,
    weight_column: str | NumericColumn | None = None,
) -> dict[str, Any]:
    """``make_parse_example_spec`` + ``FixedLenFeature((1,), label_dtype, label_default)`` (+ weight)."""
    spec = make_parse_example_spec(feature_columns)
    return _add_label_and_weight(
        spec, label_key, FixedLenFeature((1,), str(label_dtype), label_default), weight_column
    )


def regressor_parse_example_spec(
    feature_columns: Iterable[FeatureColumn],
    label_key: str,
    label_dtype: Any = "float32",
    label_default: Any = None,
    label_dimension: int = 1,
    weight_column: str | NumericColumn | None = None,
) -> dict[str, Any]:
    """``make_parse_example_spec`` + ``FixedLenFeature((label_dimension,), label_dtype, label_default)``."""
    spec = make_parse_example_spec(feature_columns)
    label = FixedLenFeature((int(label_dimension),), str(label_dtype), label_default)
    return _add_label_and_weight(spec, label_key, label, weight_column)
