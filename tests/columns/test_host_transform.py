"""find_host_transform: one host pass for all column layers, shared transforms, raw pass-through."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from torchestimator import feature_column as fc
from torchestimator.columns import TransformCache, find_host_transform
from torchestimator.columns.numeric import BucketizedColumn

AGE_B = fc.bucketized_column(fc.numeric_column("age"), [18.0, 30.0])
CROSS = fc.crossed_column(["city", AGE_B], 50)


class WideDeep(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dnn = fc.DenseFeatures([AGE_B, fc.embedding_column(CROSS, 4)])
        self.linear = fc.LinearModel([CROSS, AGE_B, fc.categorical_column_with_hash_bucket("city", 10)])

    def forward(self, features: dict[str, Any]) -> torch.Tensor:
        return self.dnn(features).sum(1, keepdim=True) + self.linear(features)


FEATS = {
    "age": np.asarray([10.0, 20.0, 40.0]),
    "city": np.asarray(["a", "b", "a"], dtype=object),
    "weight": np.asarray([1.0, 2.0, 3.0], dtype=np.float32),
    "note": ["x", "y", "z"],
}


def test_no_column_layers_gives_none() -> None:
    assert find_host_transform(nn.Linear(2, 2)) is None


def test_transform_then_forward_equals_inline_forward() -> None:
    model = WideDeep()
    transform = find_host_transform(model)
    assert transform is not None
    out = transform(FEATS)
    assert all(
        isinstance(v, torch.Tensor) and v.device.type == "cpu"
        for k, v in out.items()
        if k.startswith("__tecol__")
    )
    torch.testing.assert_close(model(out), model(FEATS))


def test_unconsumed_features_pass_through_and_consumed_ones_do_not() -> None:
    out = find_host_transform(WideDeep())(FEATS)  # type: ignore[misc]
    assert isinstance(out["weight"], torch.Tensor) and out["weight"].tolist() == [1.0, 2.0, 3.0]
    assert out["note"] == ["x", "y", "z"]
    assert "age" not in out and "city" not in out


def test_a_shared_transform_runs_once(monkeypatch: Any) -> None:
    calls = []
    original = BucketizedColumn.transform

    def counting(self: BucketizedColumn, cache: TransformCache) -> Any:
        calls.append(self.name)
        return original(self, cache)

    monkeypatch.setattr(BucketizedColumn, "transform", counting)
    find_host_transform(WideDeep())(FEATS)  # type: ignore[misc]
    assert calls == ["age_bucketized"]  # used by the cross, the DNN one-hot and the linear model
