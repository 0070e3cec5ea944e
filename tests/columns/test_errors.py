"""Bad input gives a clear error naming the column / feature / file, never a silent wrong id."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from torchestimator import feature_column as fc
from torchestimator.errors import FeatureError, InvalidArgumentError

FEATS = {"age": np.asarray([30.0, 40.0]), "class": ["a", "b"], "city": ["x", "y"]}


def test_missing_feature_suggests_the_close_name() -> None:
    layer = fc.DenseFeatures([fc.numeric_column("agee")])
    with pytest.raises(FeatureError) as err:
        layer(FEATS)
    msg = str(err.value)
    assert "feature 'agee'" in msg and "not in batch; available: age, city, class" in msg
    assert "did you mean 'age'?" in msg


def test_strings_into_numeric_column() -> None:
    with pytest.raises(FeatureError, match=r"numeric_column 'class' needs numbers.*dtype object"):
        fc.DenseFeatures([fc.numeric_column("class")])(FEATS)


def test_ints_into_string_hash_column_and_strings_into_int_column() -> None:
    with pytest.raises(FeatureError, match="has dtype string but feature 'age'"):
        fc.LinearModel([fc.categorical_column_with_hash_bucket("age", 5)])({"age": np.asarray([1, 2])})
    with pytest.raises(FeatureError, match="has dtype int64 but feature 'class'"):
        fc.LinearModel([fc.categorical_column_with_identity("class", 5)])(FEATS)


def test_missing_vocabulary_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"vocabulary_file '.*nope.txt' does not exist"):
        fc.categorical_column_with_vocabulary_file("w", str(tmp_path / "nope.txt"))


def test_duplicate_vocabulary_file_and_list(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "v.txt"
    path.write_text("a\nb\na\n", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match=r"duplicate key 'a' on lines 1 and 3"):
        fc.categorical_column_with_vocabulary_file("w", str(path))
    with pytest.raises(InvalidArgumentError, match="duplicate keys"):
        fc.categorical_column_with_vocabulary_list("w", ["a", "b", "a"])


def test_identity_out_of_range_without_default() -> None:
    layer = fc.DenseFeatures([fc.indicator_column(fc.categorical_column_with_identity("k", 3))])
    with pytest.raises(FeatureError, match=r"'k'.* outside \[0, 3\) \(e.g. \[7\]\)"):
        layer({"k": np.asarray([0, 7])})


def test_shape_mismatch() -> None:
    with pytest.raises(FeatureError, match=r"expects shape \(B, 3\) but feature 'age' has shape \(2, 1\)"):
        fc.DenseFeatures([fc.numeric_column("age", shape=3)])(FEATS)


def test_batch_size_mismatch_between_columns() -> None:
    layer = fc.DenseFeatures([fc.numeric_column("age"), fc.numeric_column("b")])
    with pytest.raises(FeatureError, match="batch size"):
        layer({"age": np.ones(2), "b": np.ones(3)})


def test_scalar_feature_and_bad_constructor_arguments() -> None:
    with pytest.raises(FeatureError, match="scalar"):
        fc.DenseFeatures([fc.numeric_column("age")])({"age": 3.0})
    with pytest.raises(InvalidArgumentError, match="boundaries must be a sorted"):
        fc.bucketized_column(fc.numeric_column("a"), [3, 1])
    with pytest.raises(InvalidArgumentError, match="combiner must be one of"):
        fc.embedding_column(fc.categorical_column_with_identity("k", 3), 2, combiner="max")
    with pytest.raises(InvalidArgumentError, match="does not support hashed columns"):
        fc.crossed_column([fc.categorical_column_with_hash_bucket("a", 3), "b"], 10)
    with pytest.raises(InvalidArgumentError, match="duplicate feature column names"):
        fc.DenseFeatures([fc.numeric_column("a"), fc.numeric_column("a", shape=2)])


def test_vocabulary_default_beyond_buckets_is_an_error_not_a_wrong_row() -> None:
    col = fc.categorical_column_with_vocabulary_list("w", ["a", "b"], default_value=5)
    with pytest.raises(FeatureError, match="id 5 >= num_buckets 2"):
        fc.DenseFeatures([fc.embedding_column(col, 2)])({"w": ["a", "zz"]})
