"""DenseFeatures equals TensorFlow 2.15 (fixed weights) and an independent numpy computation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from columns_fixtures import load_fixture, to_features

from torchestimator import feature_column as fc
from torchestimator.errors import InvalidArgumentError

FIX = load_fixture("tf215_dense.json")
W6 = np.asarray(FIX["W6"], dtype=np.float32)
FEATURES = to_features(FIX["features"])
AGE_B = fc.bucketized_column(fc.numeric_column("age"), [18.0, 25.0, 30.0, 40.0])
COLOR = fc.categorical_column_with_vocabulary_list("color", ["r", "g", "b"], num_oov_buckets=3)
COLOR_W = fc.weighted_categorical_column(COLOR, "w")


def w6_init(shape: Any) -> np.ndarray:
    assert tuple(shape) == W6.shape
    return W6


def _tf_case(name: str, columns: list[Any]) -> None:
    out = fc.DenseFeatures(columns)(FEATURES)
    np.testing.assert_allclose(out.detach().numpy(), np.asarray(FIX["outputs"][name]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("combiner", ["mean", "sqrtn", "sum"])
def test_embedding_matches_tf(combiner: str) -> None:
    _tf_case(f"embedding_{combiner}", [fc.embedding_column(COLOR, 3, combiner=combiner, initializer=w6_init)])
    _tf_case(
        f"embedding_weighted_{combiner}",
        [fc.embedding_column(COLOR_W, 3, combiner=combiner, initializer=w6_init)],
    )
    _tf_case(
        f"embedding_maxnorm_{combiner}",
        [fc.embedding_column(COLOR, 3, combiner=combiner, initializer=w6_init, max_norm=0.7)],
    )


def test_indicator_matches_tf() -> None:
    _tf_case("indicator", [fc.indicator_column(COLOR)])
    _tf_case("indicator_weighted", [fc.indicator_column(COLOR_W)])


def test_mixed_columns_in_sorted_order_match_tf() -> None:
    _tf_case(
        "all_sorted",
        [
            fc.numeric_column("x", shape=(2,)),
            fc.indicator_column(COLOR),
            AGE_B,
            fc.numeric_column("age"),
            fc.embedding_column(COLOR, 3, initializer=w6_init),
        ],
    )


def _numpy_embedding(
    rows: list[list[int]],
    weights: list[list[float]],
    table: np.ndarray,
    combiner: str,
    max_norm: float | None = None,
) -> np.ndarray:
    out = np.zeros((len(rows), table.shape[1]), dtype=np.float64)
    for b, (ids, ws) in enumerate(zip(rows, weights)):
        pairs = [(i, w) for i, w in zip(ids, ws) if i >= 0 and w > 0]
        if not pairs:
            continue
        vecs = []
        for i, w in pairs:
            v = table[i].astype(np.float64)
            if max_norm is not None and np.linalg.norm(v) > max_norm:
                v = v * max_norm / np.linalg.norm(v)
            vecs.append(w * v)
        total = np.sum(vecs, axis=0)
        wsum = sum(w for _, w in pairs)
        if combiner == "mean":
            total = total / wsum
        elif combiner == "sqrtn":
            total = total / np.sqrt(sum(w * w for _, w in pairs))
        out[b] = total
    return out


@pytest.mark.parametrize("combiner", ["mean", "sqrtn", "sum"])
@pytest.mark.parametrize("max_norm", [None, 0.5])
def test_fused_embeddings_equal_numpy(combiner: str, max_norm: float | None) -> None:
    rng = np.random.default_rng(1)
    a = fc.categorical_column_with_identity("a", 7)
    b = fc.categorical_column_with_identity("b", 5)
    rows_a = [[1, 2, 2], [], [6], [0, 3]]
    rows_b = [[4], [0, 1], [], [2, 2, 2]]
    layer = fc.DenseFeatures(
        [
            fc.embedding_column(b, 4, combiner=combiner, max_norm=max_norm),
            fc.embedding_column(a, 4, combiner=combiner, max_norm=max_norm),
        ]
    )
    with torch.no_grad():
        for name in ("a_embedding", "b_embedding"):
            layer.embedding_weights(name).copy_(
                torch.from_numpy(rng.standard_normal((7 if name[0] == "a" else 5, 4)))
            )
    out = layer({"a": rows_a, "b": rows_b}).detach().numpy()
    ta = layer.embedding_weights("a_embedding").detach().numpy()
    tb = layer.embedding_weights("b_embedding").detach().numpy()
    ones = lambda rows: [[1.0] * len(r) for r in rows]  # noqa: E731
    expected = np.concatenate(
        [
            _numpy_embedding(rows_a, ones(rows_a), ta, combiner, max_norm),
            _numpy_embedding(rows_b, ones(rows_b), tb, combiner, max_norm),
        ],
        axis=1,
    )
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert len(layer.embedding_tables) == 1  # both columns fused into one bag


def test_bucketized_numeric_indicator_equal_numpy() -> None:
    age = fc.numeric_column("age", normalizer_fn=lambda x: x * 2.0)
    bucket = fc.bucketized_column(fc.numeric_column("age"), [0.0, 10.0])
    ind = fc.indicator_column(fc.categorical_column_with_identity("k", 4))
    feats = {"age": np.asarray([-1.0, 0.0, 10.0, 3.5]), "k": [[1, 1, 3], [], [0], [2]]}
    out = fc.DenseFeatures([ind, bucket, age])(feats).numpy()
    ages = feats["age"]
    onehot = np.eye(3)[np.digitize(ages, [0.0, 10.0], right=False)]
    multi = np.zeros((4, 4))
    for r, ids in enumerate(feats["k"]):
        for i in ids:
            multi[r, i] += 1
    expected = np.concatenate(
        [(ages * 2.0)[:, None], onehot, multi], axis=1
    )  # sorted: age, age_bucketized, k_indicator
    np.testing.assert_allclose(out, expected)


def test_shared_embeddings_use_one_table() -> None:
    a = fc.categorical_column_with_identity("a", 6)
    b = fc.categorical_column_with_identity("b", 6)
    ea, eb = fc.shared_embeddings([a, b], 3, combiner="sum")
    assert ea.name == "a_shared_embedding" and ea.table_name == "a_b_shared_embedding"
    layer = fc.DenseFeatures([ea, eb])
    assert layer.embedding_tables["dim3"].weight.shape == (6, 3)
    out = layer({"a": np.asarray([1, 2]), "b": np.asarray([2, 5])}).detach().numpy()
    table = layer.embedding_weights("a_shared_embedding").detach().numpy()
    np.testing.assert_allclose(out, np.concatenate([table[[1, 2]], table[[2, 5]]], axis=1), rtol=1e-6)


def test_default_init_is_truncated_normal_with_std_one_over_sqrt_dim() -> None:
    torch.manual_seed(0)
    layer = fc.DenseFeatures([fc.embedding_column(fc.categorical_column_with_identity("k", 20000), 16)])
    w = layer.embedding_weights("k_embedding").detach().numpy()
    std = 1 / np.sqrt(16)
    assert np.abs(w).max() <= 2 * std + 1e-6
    # a normal truncated at 2 std has std 0.8796 of the untruncated one
    assert abs(w.std() - 0.8796 * std) < 0.01 * std


def test_raw_categorical_column_is_rejected_with_tf_hint() -> None:
    with pytest.raises(InvalidArgumentError, match="embedding_column or indicator_column"):
        fc.DenseFeatures([fc.categorical_column_with_identity("k", 3)])
