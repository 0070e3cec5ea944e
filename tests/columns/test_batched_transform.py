"""Batched host transforms: one pass for single-valued numeric / int-hash columns, TF-exact ids."""

from __future__ import annotations

import farmhash
import numpy as np
import torch

from torchestimator import feature_column as fc
from torchestimator.columns import DenseFeatures, TransformCache
from torchestimator.columns.batched_transform import stacked_hash_ids, stacked_numeric

SIZES = [10, 1000, 7]


def _tf_bucket(value: int, buckets: int) -> int:
    """TF StringToHashBucketFast of an int: Fingerprint64 of its decimal text, mod buckets."""
    return farmhash.fingerprint64(str(value)) % buckets


def test_stacked_hash_ids_are_fingerprint64_of_the_decimal_text() -> None:
    rng = np.random.default_rng(0)
    cols = [fc.categorical_column_with_hash_bucket(f"c{i}", n, dtype="int64") for i, n in enumerate(SIZES)]
    feats = {
        "c0": rng.integers(0, 10**6, 9),
        "c1": rng.integers(0, 50, (9, 1)),
        "c2": rng.integers(0, 3, 9).astype(np.int32),
    }
    out = stacked_hash_ids(cols, feats)
    assert out is not None
    positions, ids = out
    assert positions == [0, 1, 2] and ids.dtype == np.int64 and ids.shape == (9, 3)
    for j, (col, n) in enumerate(zip(cols, SIZES)):
        raw = np.asarray(feats[col.key]).reshape(-1)
        assert ids[:, j].tolist() == [_tf_bucket(int(v), n) for v in raw]


def test_columns_that_do_not_qualify_are_left_to_the_column_path() -> None:
    string_col = fc.categorical_column_with_hash_bucket("s", 5)
    multi = fc.categorical_column_with_hash_bucket("m", 5, dtype="int64")
    tensor = fc.categorical_column_with_hash_bucket("t", 5, dtype="int64")
    plain = fc.categorical_column_with_hash_bucket("p", 5, dtype="int64")
    feats = {
        "s": np.array(["a", "b"], dtype=object),
        "m": np.array([[1, 2], [3, 4]]),
        "t": torch.tensor([1, 2]),
        "p": np.array([3, 4]),
    }
    out = stacked_hash_ids([string_col, multi, tensor, plain], feats)
    assert out is not None and out[0] == [3]
    assert stacked_hash_ids([plain], {"p": np.array([3, -1])}) is None  # a missing id: per-column path


def test_stacked_numeric_casts_once_to_float32() -> None:
    cols = [fc.numeric_column("a"), fc.numeric_column("b", dtype="int64"), fc.numeric_column("c", shape=2)]
    feats = {"a": np.array([0.1, 1e-8], np.float64), "b": np.array([[2**40 + 1], [3]]), "c": np.ones((2, 2))}
    out = stacked_numeric(cols, feats)
    assert out is not None and sorted(out) == [0, 1]  # shape (2,) is left to the column path
    np.testing.assert_array_equal(out[0], np.array([0.1, 1e-8], np.float32))
    np.testing.assert_array_equal(out[1], np.array([2**40 + 1, 3]).astype(np.float32))


def test_dense_features_fast_path_equals_numpy_lookup_and_fills_the_cache() -> None:
    rng = np.random.default_rng(3)
    cats = [fc.categorical_column_with_hash_bucket(f"k{i}", n, dtype="int64") for i, n in enumerate(SIZES)]
    cols = [fc.embedding_column(c, 4) for c in cats] + [fc.numeric_column("x"), fc.numeric_column("y")]
    layer = DenseFeatures(cols)
    feats = {f"k{i}": rng.integers(0, 10**5, 6) for i in range(3)}
    feats |= {"x": rng.standard_normal(6), "y": rng.integers(0, 9, 6)}
    cache = TransformCache(feats)
    out = layer(layer.host_tensors(cache)).detach().numpy()  # (6, 14)
    expected = []
    for i, n in enumerate(SIZES):  # sorted names: k0, k1, k2, x, y
        table = layer.embedding_weights(f"k{i}_embedding").detach().numpy()
        expected.append(table[[_tf_bucket(int(v), n) for v in feats[f"k{i}"]]])
    expected += [feats["x"].astype(np.float32)[:, None], feats["y"].astype(np.float32)[:, None]]
    np.testing.assert_allclose(out, np.concatenate(expected, axis=1), rtol=1e-6)
    # the hashed ids were recorded for other layers reading the same columns (a LinearModel)
    assert cache.get(cats[1]).values.tolist() == [_tf_bucket(int(v), 1000) for v in feats["k1"]]


def test_missing_ids_fall_back_and_are_dropped_as_tf_does() -> None:
    cat = fc.categorical_column_with_hash_bucket("k", 10, dtype="int64")
    layer = DenseFeatures([fc.embedding_column(cat, 2, combiner="sum")])
    out = layer({"k": np.array([5, -1])}).detach().numpy()  # -1 = missing: an all-zero row
    table = layer.embedding_weights("k_embedding").detach().numpy()
    np.testing.assert_allclose(out, np.stack([table[_tf_bucket(5, 10)], np.zeros(2)]), rtol=1e-6)


def test_linear_model_stacked_hash_path_gives_the_fingerprint_rows() -> None:
    """LinearModel over int64 hash columns (all fast, then mixed with a string column): logits = the TF-id rows."""
    from torchestimator.columns import LinearModel

    rng = np.random.default_rng(1)
    feats = {
        "c0": rng.integers(0, 10**6, 6),
        "c1": rng.integers(0, 50, 6),
        "s": np.array(list("abcabc"), object),
    }
    ints = [
        fc.categorical_column_with_hash_bucket(f"c{i}", n, dtype="int64") for i, n in enumerate(SIZES[:2])
    ]
    for cols in (ints, [*ints, fc.categorical_column_with_hash_bucket("s", 7)]):
        model = LinearModel(cols, sparse_combiner="sqrtn")
        with torch.no_grad():
            model.sparse_weights.weight.copy_(
                torch.arange(model.sparse_weights.weight.shape[0]).float()[:, None]
            )
            model.bias.fill_(0.5)
        logits = model(feats)  # (6, 1)
        want = np.full(6, 0.5)
        for col in ints:
            start, _ = model.column_rows(col.name)
            want += [start + _tf_bucket(int(v), col.hash_bucket_size) for v in feats[col.key]]
        if len(cols) == 3:
            start, n = model.column_rows("s")
            want += [start + farmhash.fingerprint64(v) % n for v in feats["s"]]
        np.testing.assert_allclose(logits[:, 0].detach().numpy(), want)
