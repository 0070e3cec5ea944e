"""export.graph_inputs + export.host_step: the loop-free EmbeddingBag and the host step's checks.

Oracles: torch's own ``nn.functional.embedding_bag`` (the op the export replaces) and the training
columns' transform (the error training raises for the same input).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchestimator.columns import categorical_column_with_identity
from torchestimator.columns.base import TransformCache
from torchestimator.errors import FeatureError
from torchestimator.export.graph_inputs import bag_forward
from torchestimator.export.host_step import HostStep
from torchestimator.export.wire_plan import WireInput


@pytest.mark.parametrize("weighted", [False, True])
def test_bag_forward_equals_embedding_bag_with_empty_bags(weighted: bool) -> None:
    torch.manual_seed(0)
    bag = torch.nn.EmbeddingBag(12, 4, mode="sum")
    ids = torch.randint(0, 12, (9,))
    offsets = torch.tensor([0, 0, 2, 2, 2, 5, 9, 9])  # empty bags first, in the middle and at the end
    weights = torch.rand(9) if weighted else None
    expected = torch.nn.functional.embedding_bag(
        ids, bag.weight, offsets, mode="sum", per_sample_weights=weights
    )  # (8, 4)
    got = bag_forward(bag)(ids, offsets, per_sample_weights=weights)
    torch.testing.assert_close(got, expected)


def test_bag_forward_keeps_no_state_on_the_module() -> None:
    bag = torch.nn.EmbeddingBag(5, 2, mode="sum")
    before = set(vars(bag))
    bag_forward(bag)(torch.tensor([1, 2, 3]), torch.tensor([0, 1]))
    assert set(vars(bag)) == before


def test_identity_out_of_range_is_the_training_error() -> None:
    column = categorical_column_with_identity("slot", 5)
    features = {"slot": np.array([[1], [7]], dtype=np.int64)}
    with pytest.raises(FeatureError) as training:
        column.transform(TransformCache(features))
    step = HostStep({"slot": WireInput("slot", "padded", "int64", key="slot", group="slot", num_buckets=5)})
    with pytest.raises(FeatureError) as serving:
        step(features)
    assert str(serving.value) == str(training.value)
    assert "1 id(s) outside [0, 5) (e.g. [7])" in str(serving.value)
    np.testing.assert_array_equal(step({"slot": np.array([[1], [4]])})["slot"], [[1], [4]])
    negative = {"slot": np.array([[1], [-2]], dtype=np.int64)}  # below -1: refused in both, as training does
    with pytest.raises(FeatureError, match=r"outside \[0, 5\) \(e.g. \[-2\]\)"):
        step(negative)


def test_tensor_input_shape_dtype_and_missing_are_named() -> None:
    item = WireInput("image", "tensor", "float32", key="image", shape=(-1, 3, -1))
    step = HostStep({"image": item})
    value = torch.arange(12, dtype=torch.float64).reshape(2, 3, 2)
    out = step({"image": value})["image"]
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, value.numpy().astype(np.float32))
    with pytest.raises(
        FeatureError,
        match=r"feature 'image' must have shape \[None, 3, None\] \(None = any size\); received shape \[2, 4, 2\]",
    ):
        step({"image": np.zeros((2, 4, 2))})
    with pytest.raises(FeatureError, match="feature 'image' must be numeric"):
        step({"image": np.full((2, 3, 1), "a", dtype=object)})
    with pytest.raises(
        FeatureError, match=r"feature 'image' is missing: the model reads it.*did you mean 'imag'"
    ):
        step({"imag": np.zeros((2, 3, 1))})
    assert WireInput.from_json(item.to_json()) == item
