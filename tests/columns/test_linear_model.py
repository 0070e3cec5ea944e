"""LinearModel equals TensorFlow 2.15's LinearModel and a one-hot x weight-matrix numpy oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from columns_fixtures import load_fixture, to_features

from torchestimator import feature_column as fc

FIX = load_fixture("tf215_dense.json")
FEATURES = to_features(FIX["features"])
AGE_B = fc.bucketized_column(fc.numeric_column("age"), [18.0, 25.0, 30.0, 40.0])
COLOR = fc.categorical_column_with_vocabulary_list("color", ["r", "g", "b"], num_oov_buckets=3)
COLOR_W = fc.weighted_categorical_column(COLOR, "w")


@pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
def test_linear_model_matches_tf(combiner: str) -> None:
    model = fc.LinearModel(
        [fc.numeric_column("x", shape=(2,)), COLOR_W, AGE_B], units=2, sparse_combiner=combiner
    )
    tf_w = {
        k.split("/")[1]: np.asarray(v, dtype=np.float32) for k, v in FIX[f"linear_{combiner}_weights"].items()
    }
    with torch.no_grad():
        for name in ("age_bucketized", "color_weighted_by_w"):
            start, rows = model.column_rows(name)
            model.sparse_weights.weight[start : start + rows] = torch.from_numpy(tf_w[name])
        model.dense_kernel.copy_(torch.from_numpy(tf_w["x"]))
        model.bias.copy_(torch.from_numpy(tf_w["bias_weights:0"]))
    out = model(FEATURES).detach().numpy()
    np.testing.assert_allclose(out, np.asarray(FIX["outputs"][f"linear_{combiner}"]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
def test_linear_model_equals_one_hot_times_weights(combiner: str) -> None:
    rng = np.random.default_rng(3)
    a = fc.categorical_column_with_identity("a", 5)
    h = fc.categorical_column_with_hash_bucket("h", 7)
    rows_a = [[0, 0, 4], [], [2], [1, 3]]
    rows_h = [["x"], ["y", "z"], [], ["x", "x", "q"]]
    model = fc.LinearModel([h, a], units=3, sparse_combiner=combiner)
    with torch.no_grad():
        model.sparse_weights.weight.copy_(torch.from_numpy(rng.standard_normal((12, 3)).astype(np.float32)))
        model.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    out = model({"a": rows_a, "h": rows_h}).detach().numpy()
    h_ids = fc.TransformCache({"h": rows_h}).get(h)
    h_rows = [h_ids.values[s:e].tolist() for s, e in zip(h_ids.row_splits[:-1], h_ids.row_splits[1:])]
    weight = model.sparse_weights.weight.detach().numpy().astype(np.float64)
    expected = np.tile([0.1, -0.2, 0.3], (4, 1))
    for rows, offset, nb in ((rows_a, 0, 5), (h_rows, 5, 7)):  # sorted: a then h
        onehot = np.zeros((4, nb))
        for r, ids in enumerate(rows):
            for i in ids:
                onehot[r, i] += 1
        n = onehot.sum(1, keepdims=True)
        if combiner == "mean":
            onehot = onehot / np.maximum(n, 1)
        elif combiner == "sqrtn":
            onehot = onehot / np.maximum(np.sqrt(n), 1)
        expected = expected + onehot @ weight[offset : offset + nb]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
