"""Categorical ids are bit-exact with TensorFlow 2.15 (fixtures generated once with TF)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from columns_fixtures import FIXTURES, load_fixture, to_features

from torchestimator import feature_column as fc
from torchestimator.columns import TransformCache
from torchestimator.columns.hashing import DEFAULT_HASH_KEY, fingerprint64, fingerprint_cat64, hash_bucket

FIXTURE = load_fixture("tf215_ids.json")
VOCAB_FILE = str(FIXTURES / "vocab.txt")
AGE_B = fc.bucketized_column(fc.numeric_column("age"), [18.0, 25.0, 30.0, 40.0])
VOCAB = ["apple", "banana", "cherry"]


def _columns() -> dict[str, Any]:
    cols: dict[str, Any] = {}
    for size in (3, 10, 1000, 100003):
        cols[f"hash_str_{size}"] = fc.categorical_column_with_hash_bucket("s", size)
        cols[f"hash_int_{size}"] = fc.categorical_column_with_hash_bucket("i", size, dtype="int64")
    cols["hash_str_sparse"] = fc.categorical_column_with_hash_bucket("s", 17)
    cols["hash_str_2d"] = fc.categorical_column_with_hash_bucket("s", 17)
    cols["vocab_list_oov0"] = fc.categorical_column_with_vocabulary_list("w", VOCAB)
    cols["vocab_list_default"] = fc.categorical_column_with_vocabulary_list("w", VOCAB, default_value=7)
    cols["vocab_list_oov5"] = fc.categorical_column_with_vocabulary_list("w", VOCAB, num_oov_buckets=5)
    cols["vocab_list_int_oov3"] = fc.categorical_column_with_vocabulary_list(
        "n", [10, 20, 30], dtype="int64", num_oov_buckets=3
    )
    cols["vocab_file_oov4"] = fc.categorical_column_with_vocabulary_file("w", VOCAB_FILE, num_oov_buckets=4)
    cols["vocab_file_size3"] = fc.categorical_column_with_vocabulary_file(
        "w", VOCAB_FILE, vocabulary_size=3, num_oov_buckets=2
    )
    cols["identity_default"] = fc.categorical_column_with_identity("k", 5, default_value=0)
    cols["identity_plain"] = fc.categorical_column_with_identity("k", 5)
    cols["bucketized_ids"] = AGE_B
    cols["bucketized_2d_ids"] = fc.bucketized_column(fc.numeric_column("pos", shape=(2,)), [0.0, 1.0])
    cols["cross_str_str"] = fc.crossed_column(["a", "b"], 1000)
    cols["cross_str_str_keyorder"] = fc.crossed_column(["b", "a"], 1000)
    cols["cross_str_bucketized"] = fc.crossed_column(["a", AGE_B], 100)
    cols["cross_three_way_int"] = fc.crossed_column(
        ["a", "c", fc.categorical_column_with_identity("k", 10)], 10007
    )
    cols["cross_vocab_hash_key"] = fc.crossed_column(
        [fc.categorical_column_with_vocabulary_list("a", ["a", "b"], num_oov_buckets=1), "b"],
        50,
        hash_key=12345,
    )
    cols["cross_sparse_multivalent"] = fc.crossed_column(["a", "b"], 97)
    cols["cross_sparse_then_dense"] = fc.crossed_column(["a", "b"], 97)
    cols["cross_nested"] = fc.crossed_column([fc.crossed_column(["a", "b"], 10), "c"], 1000)
    return cols


COLUMNS = _columns()


def test_every_fixture_case_has_a_column() -> None:
    assert sorted(COLUMNS) == sorted(FIXTURE["cases"])


@pytest.mark.parametrize("case", sorted(FIXTURE["cases"]))
def test_ids_match_tensorflow(case: str) -> None:
    expected = FIXTURE["cases"][case]
    ids = COLUMNS[case].ids(TransformCache(to_features(expected["features"])))
    assert ids.values.tolist() == expected["ids"]["values"]
    assert ids.row_splits.tolist() == expected["ids"]["row_splits"]


def test_tf_documented_hash_example() -> None:
    assert hash_bucket(["Hello", "TensorFlow", "2.x"], 3).tolist() == [0, 2, 2]
    assert FIXTURE["documented"]["to_hash_bucket_fast"] == [0, 2, 2]


def test_tf_documented_hashed_crossing_example() -> None:
    # Keras HashedCrossing(num_bins=5) = FingerprintCat64 chain from the default key, strings
    # fingerprinted, ints raw.
    a = fingerprint64(["A", "B", "A", "B", "A"])
    b = np.asarray([101, 101, 101, 102, 102], dtype=np.int64).view(np.uint64)
    h = fingerprint_cat64(fingerprint_cat64(np.full(5, DEFAULT_HASH_KEY, np.uint64), a), b)
    assert (h % np.uint64(5)).astype(np.int64).tolist() == [1, 4, 1, 1, 3]
    assert FIXTURE["documented"]["hashed_crossing"] == [1, 4, 1, 1, 3]


def test_crossed_column_reproduces_hashed_crossing() -> None:
    col = fc.crossed_column(["x", "y"], 5)
    feats = {
        "x": np.asarray(["A", "B", "A", "B", "A"], dtype=object),
        "y": np.asarray([101, 101, 101, 102, 102]),
    }
    assert col.ids(TransformCache(feats)).values.tolist() == [1, 4, 1, 1, 3]


def test_inputs_as_lists_bytes_and_tensors_give_the_same_ids() -> None:
    import torch

    col = fc.categorical_column_with_hash_bucket("s", 100)
    expected = col.ids(TransformCache({"s": np.asarray(["a", "b", "c"], dtype=object)})).values.tolist()
    assert col.ids(TransformCache({"s": ["a", "b", "c"]})).values.tolist() == expected
    assert col.ids(TransformCache({"s": [b"a", b"b", b"c"]})).values.tolist() == expected
    icol = fc.categorical_column_with_hash_bucket("i", 100, dtype="int64")
    expected_i = icol.ids(TransformCache({"i": np.asarray([5, 6])})).values.tolist()
    assert icol.ids(TransformCache({"i": torch.tensor([5, 6])})).values.tolist() == expected_i
    assert icol.ids(TransformCache({"i": [5, 6]})).values.tolist() == expected_i
    rag = icol.ids(TransformCache({"i": [[5], [6, 5]]}))
    assert rag.values.tolist() == [expected_i[0], expected_i[1], expected_i[0]]
    assert rag.row_splits.tolist() == [0, 1, 3]
