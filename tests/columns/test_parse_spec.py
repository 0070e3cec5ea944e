"""make_parse_example_spec and the classifier / regressor variants follow TF's table (reference §2.1, §1.10)."""

from __future__ import annotations

import pytest

import torchestimator.columns as columns_pkg
from torchestimator import feature_column as fc
from torchestimator.errors import InvalidArgumentError
from torchestimator.parsing import FixedLenFeature, VarLenFeature

AGE = fc.numeric_column("age", shape=2, default_value=0.0)
CROSS = fc.crossed_column(["city", fc.bucketized_column(AGE, [1.0])], 10)


def test_make_parse_example_spec_merges_column_specs() -> None:
    spec = fc.make_parse_example_spec(
        [
            fc.embedding_column(CROSS, 4),
            fc.indicator_column(
                fc.weighted_categorical_column(fc.categorical_column_with_identity("k", 3), "kw")
            ),
            fc.categorical_column_with_hash_bucket("h", 5, dtype="int64"),
        ]
    )
    assert spec == {
        "city": VarLenFeature("string"),
        "age": FixedLenFeature((2,), "float32", [0.0, 0.0]),
        "k": VarLenFeature("int64"),
        "kw": VarLenFeature("float32"),
        "h": VarLenFeature("int64"),
    }


def test_conflicting_specs_are_an_error() -> None:
    with pytest.raises(InvalidArgumentError, match="feature 'age' has conflicting specs"):
        fc.make_parse_example_spec([AGE, fc.categorical_column_with_identity("age", 3)])


def test_classifier_and_regressor_specs_add_label_and_weight() -> None:
    spec = fc.classifier_parse_example_spec([AGE], label_key="y", weight_column="w")
    assert spec["y"] == FixedLenFeature((1,), "int64", None)
    assert spec["w"] == FixedLenFeature((1,), "float32", None)
    spec = fc.regressor_parse_example_spec([AGE], label_key="y", label_dimension=3, label_default=0.0)
    assert spec["y"] == FixedLenFeature((3,), "float32", 0.0)
    with pytest.raises(InvalidArgumentError, match="label_key 'age' is also a feature"):
        fc.classifier_parse_example_spec([AGE], label_key="age")


def test_public_api_is_sorted_and_reexported() -> None:
    assert columns_pkg.__all__ == sorted(columns_pkg.__all__)
    assert fc.__all__ == columns_pkg.__all__
    for name in columns_pkg.__all__:
        assert getattr(fc, name) is getattr(columns_pkg, name)
