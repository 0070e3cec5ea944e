"""crossed_column over a float key: ids equal TensorFlow 2.15's (TF casts to int64 before crossing)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import torchestimator.feature_column as fc

FIXTURE = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "columns" / "tf215_cross_float.json").read_text()
)


def test_float_cross_matches_tf():
    col = fc.crossed_column(["age", "sex"], FIXTURE["hash_bucket_size"])
    layer = fc.DenseFeatures([fc.indicator_column(col)])
    out = layer(
        {"age": np.asarray(FIXTURE["age"], dtype=np.float32), "sex": np.asarray(FIXTURE["sex"], dtype=object)}
    )
    assert out.argmax(1).tolist() == FIXTURE["ids"]
    assert FIXTURE["ids"] == FIXTURE["int_ids"]  # TF: float 22.0 and int 22 share a bucket
