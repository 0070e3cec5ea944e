"""bucketized_column compares in float32, as TF's Bucketize does (its boundaries are a list(float) attribute
and the numeric column's values are float32): a value equal to float32(b) lands right of b even where
float32(b) < b. Host ids, the DenseFeatures one-hot and the exported graph's buckets, against TF 2.15
(tests/fixtures/columns/tf215_bucketize.json, scripts/fixtures/gen_bucketize_fixtures.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from columns_fixtures import load_fixture

from torchestimator import feature_column as fc
from torchestimator.columns import TransformCache
from torchestimator.export.graph_inputs import GraphBuilder

FIXTURE = load_fixture("tf215_bucketize.json")
CASES = sorted(FIXTURE["cases"])


def _case(name: str) -> tuple[fc.BucketizedColumn, np.ndarray, dict]:
    case = FIXTURE["cases"][name]
    column = fc.bucketized_column(fc.numeric_column("x", dtype=case["dtype"]), FIXTURE["boundaries"])
    return column, np.asarray(case["x"], dtype=case["dtype"]), case


@pytest.mark.parametrize("name", CASES)
def test_ids_match_tensorflow(name: str) -> None:
    column, x, case = _case(name)
    ids = column.ids(TransformCache({"x": x}))
    assert ids.values.tolist() == case["ids"]["values"]
    assert ids.row_splits.tolist() == case["ids"]["row_splits"]


@pytest.mark.parametrize("name", CASES)
def test_dense_one_hot_matches_tensorflow(name: str) -> None:
    column, x, case = _case(name)
    out = fc.DenseFeatures([column])({"x": x}).detach().numpy()
    np.testing.assert_array_equal(out, np.asarray(case["dense"], dtype=np.float32))


@pytest.mark.parametrize("name", CASES)
def test_exported_graph_buckets_match_tensorflow(name: str) -> None:
    column, x, case = _case(name)
    builder = GraphBuilder({"x": torch.from_numpy(x.astype(np.float32))}, {})
    ids, weights = builder.categorical(column)
    assert weights is None
    assert ids.reshape(-1).tolist() == case["ids"]["values"]
    np.testing.assert_array_equal(builder.dense(column).numpy(), np.asarray(case["dense"], dtype=np.float32))
