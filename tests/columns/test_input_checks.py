"""Identity ids out of range, NaN bucket boundaries and NaN column inputs raise, naming the column.

Oracle for what TF does: ``tests/fixtures/columns/tf215_identity_range.json`` (TF 2.15, written by
``scripts/fixtures/gen_trust_input_fixtures.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from torchestimator import feature_column as fc
from torchestimator.errors import FeatureError, InvalidArgumentError
from torchestimator.parsing import Ragged

TF = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "columns" / "tf215_identity_range.json").read_text()
)
NB = TF["num_buckets"]


def _indicator(column: fc.IdentityCategoricalColumn, value: object) -> list:
    return fc.DenseFeatures([fc.indicator_column(column)])({"k": value}).tolist()


def _sparse(values: list[int]) -> Ragged:
    return Ragged(np.asarray(values, dtype=np.int64), np.arange(len(values) + 1, dtype=np.int64))


def test_default_value_replaces_out_of_range_ids_as_tf_does() -> None:
    column = fc.categorical_column_with_identity("k", NB, default_value=TF["default_value"])
    # dense: -1 is the missing marker (dropped), -2 and 7 become the default
    assert _indicator(column, np.asarray(TF["dense"])) == TF["with_default_dense_indicator"]
    # sparse: -1 is an id like any other, out of range -> the default
    assert _indicator(column, _sparse(TF["sparse_values"])) == TF["with_default_sparse_indicator"]


def test_dense_minus_one_is_missing_without_default() -> None:
    column = fc.categorical_column_with_identity("k", NB)
    assert _indicator(column, np.asarray([[1], [-1]])) == [[0.0, 1.0, 0.0, 0.0], [0.0] * 4]


@pytest.mark.parametrize(
    ("value", "bad"),
    [
        (np.asarray([[1], [-2]]), "[-2]"),  # below -1: TF 2.15 drops it silently in its embedding lookup
        (np.asarray([0, 3, -7, -2]), "[-7, -2]"),
        (_sparse([1, -1]), "[-1]"),  # -1 in sparse input is not 'missing'
        (np.asarray([[1], [7]]), "[7]"),  # >= num_buckets
    ],
)
def test_ids_out_of_range_without_default_raise_naming_the_column(value: object, bad: str) -> None:
    assert TF["without_default_negative_ids_embedding_sum"] == [[1.0], [0.0]]  # what TF does: drop, silently
    assert "is not in [0, 4)" in TF["without_default_too_large_embedding_sum"]  # ... and fail late
    column = fc.categorical_column_with_identity("k", NB)
    for layer in (
        fc.DenseFeatures([fc.indicator_column(column)]),
        fc.DenseFeatures([fc.embedding_column(column, 2)]),
        fc.LinearModel([column]),
    ):
        with pytest.raises(FeatureError) as info:
            layer({"k": value})
        message = str(info.value)
        assert "categorical_column_with_identity 'k'" in message and f"outside [0, {NB})" in message
        assert f"(e.g. {bad})" in message


def test_sequence_identity_column_raises_too() -> None:
    column = fc.sequence_categorical_column_with_identity("k", NB)
    layer = fc.SequenceFeatures([fc.embedding_column(column, 2)])
    with pytest.raises(FeatureError, match=r"'k'.*outside \[0, 4\) \(e.g. \[-3\]\)"):
        layer({"k": Ragged(np.asarray([1, 2, -3]), np.asarray([0, 2, 3]))})


@pytest.mark.parametrize("boundaries", [[0.0, float("nan"), 2.0], [float("nan")], [np.nan, 1.0]])
def test_nan_boundaries_are_refused_at_construction(boundaries: list) -> None:
    assert "nan" in TF["nan_boundary_accepted"]  # TF accepts them silently
    with pytest.raises(
        InvalidArgumentError, match=r"bucketized_column 'age': boundaries must not contain NaN"
    ):
        fc.bucketized_column(fc.numeric_column("age"), boundaries)


def test_nan_values_fed_to_a_bucketized_column_raise_naming_the_feature() -> None:
    assert TF["bucketize_nan_bucket"] == len(TF["bucketize_nan_boundaries"])  # TF: NaN -> last bucket
    column = fc.bucketized_column(fc.numeric_column("age"), [18.0, 65.0])
    for layer in (fc.DenseFeatures([column]), fc.LinearModel([column])):
        with pytest.raises(FeatureError) as info:
            layer({"age": np.asarray([30.0, np.nan, 70.0])})
        message = str(info.value)
        assert "feature 'age'" in message and "1 NaN value (first in row 1)" in message


def test_bucketized_column_without_nan_is_unchanged() -> None:
    column = fc.bucketized_column(fc.numeric_column("age"), [18.0, 65.0])
    out = fc.DenseFeatures([column])({"age": np.asarray([10.0, 30.0, 70.0, np.inf, -np.inf])})
    assert out.argmax(dim=1).tolist() == [0, 1, 2, 2, 0]


def test_normalizer_may_impute_nan_but_may_not_produce_it() -> None:
    imputing = fc.numeric_column("x", normalizer_fn=lambda t: torch.nan_to_num(t, nan=0.0))
    out = fc.DenseFeatures([imputing])({"x": np.asarray([1.0, np.nan])})
    assert out.tolist() == [[1.0], [0.0]]
    producing = fc.numeric_column("x", normalizer_fn=lambda t: torch.log(t))
    with pytest.raises(
        FeatureError, match=r"numeric_column 'x': normalizer_fn's output for feature 'x' has 1 NaN"
    ):
        fc.DenseFeatures([producing])({"x": np.asarray([1.0, -1.0])})


def test_sequence_numeric_normalizer_output_nan_raises() -> None:
    column = fc.sequence_numeric_column("s", normalizer_fn=lambda t: torch.sqrt(t))
    with pytest.raises(FeatureError, match=r"sequence_numeric_column 's'.*1 NaN value"):
        fc.SequenceFeatures([column])({"s": Ragged(np.asarray([1.0, -4.0, 9.0]), np.asarray([0, 2, 3]))})


def test_nan_weights_of_a_weighted_categorical_column_raise() -> None:
    column = fc.weighted_categorical_column(fc.categorical_column_with_identity("k", NB), "kw")
    with pytest.raises(FeatureError, match=r"weight feature 'kw' has 1 NaN value \(first in row 1\)"):
        fc.LinearModel([column])({"k": np.asarray([[1], [2]]), "kw": np.asarray([[0.5], [np.nan]])})


@pytest.mark.parametrize(
    "state",
    [
        {"format": "torchestimator.columns/1", "layer": "LinearModel", "config": {}, "columns": "abc"},
        {"format": "torchestimator.columns/1", "layer": "LinearModel", "config": {}, "columns": [1, 2]},
        {
            "format": "torchestimator.columns/1",
            "layer": "LinearModel",
            "config": {},
            "columns": [{"type": 5}],
        },
        ["not", "a", "record"],
    ],
)
def test_malformed_column_state_in_a_checkpoint_is_a_mismatch_error(state):
    from torchestimator.columns import LinearModel, numeric_column
    from torchestimator.errors import CheckpointMismatchError

    layer = LinearModel([numeric_column("x")])
    with pytest.raises(CheckpointMismatchError):
        layer.set_extra_state(state)
