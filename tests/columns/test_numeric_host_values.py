"""NumericColumn.host_values: transform()'s float32 values in numpy, without torch when there is no
normalizer_fn (a bucketized column reads them; its buckets against TF: test_bucketize_tf.py). Oracle:
transform() itself and float32 casts in numpy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from torchestimator import feature_column as fc
from torchestimator.columns import TransformCache
from torchestimator.errors import FeatureError

RAW = {
    "float64": np.array([[0.1], [2.5 + 1e-9], [-3.0], [1e10]], np.float64),
    "int64": np.array([[2**24 + 1], [-7], [0], [2**40 + 3]], np.int64),
    "float32": np.array([[1.5, -0.5], [2.0, 3.0], [0.0, 7.25], [-1.0, 9.0]], np.float32),
}


@pytest.mark.parametrize("dtype", sorted(RAW))
def test_host_values_equal_transform_for_every_raw_dtype(dtype: str) -> None:
    raw = RAW[dtype]
    col = fc.numeric_column("x", shape=raw.shape[1])
    got = col.host_values(TransformCache({"x": raw}))
    assert got.dtype == np.float32 and got.shape == raw.shape
    np.testing.assert_array_equal(got, col.transform(TransformCache({"x": raw})).numpy())
    np.testing.assert_array_equal(got, raw.astype(np.float32))


def test_host_values_apply_the_normalizer() -> None:
    col = fc.numeric_column("x", normalizer_fn=lambda t: t * 2 - 1)
    got = col.host_values(TransformCache({"x": RAW["float64"]}))
    np.testing.assert_array_equal(got, (torch.from_numpy(RAW["float64"]) * 2 - 1).float().numpy())


@pytest.mark.parametrize(
    "raw, message",
    [
        (np.array([["a"], ["b"]], dtype=object), "needs numbers"),
        (np.zeros((2, 3), np.float32), "expects shape"),
    ],
)
def test_host_values_refuse_what_transform_refuses(raw: Any, message: str) -> None:
    col = fc.numeric_column("x")
    with pytest.raises(FeatureError, match=message):
        col.host_values(TransformCache({"x": raw}))
    with pytest.raises(FeatureError, match=message):
        col.transform(TransformCache({"x": raw}))
