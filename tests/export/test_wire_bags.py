"""export.graph_inputs GraphBuilder.bags: the in-graph fused bags give DenseFeatures' (example-major) and
LinearModel's (column-major) layouts. Oracle: numpy per-(example, column) combiner sums."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchestimator import feature_column as fc
from torchestimator.export.graph_inputs import GraphBuilder, bag_forward

IDS_A = np.array([[1, 3, -1], [-1, -1, -1], [0, 0, 2], [4, -1, -1]])  # (B, 3), -1 = padding
IDS_B = np.array([[2], [0], [-1], [1]])  # (B, 1)
W_B = np.array([[0.5], [2.0], [1.0], [1.5]], np.float32)


def _oracle(
    table: np.ndarray, ids: np.ndarray, weights: np.ndarray | None, start: int, combiner: str
) -> np.ndarray:
    out = np.zeros((ids.shape[0], table.shape[1]))
    for b, row in enumerate(ids):
        keep = row >= 0
        w = np.ones(keep.sum()) if weights is None else weights[b][keep].astype(np.float64)
        total = (table[start + row[keep]] * w[:, None]).sum(0)
        if combiner == "mean" and w.sum() > 0:
            total /= w.sum()
        if combiner == "sqrtn" and w.sum() > 0:
            total /= np.sqrt((w * w).sum())
        out[b] = total
    return out


@pytest.mark.parametrize("example_major", [True, False])
@pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
def test_graph_bags_match_numpy_in_both_layouts(example_major: bool, combiner: str) -> None:
    a = fc.categorical_column_with_identity("a", 5)
    b = fc.weighted_categorical_column(fc.categorical_column_with_identity("b", 3), "wb")
    wire = {"a": torch.from_numpy(IDS_A), "b": torch.from_numpy(IDS_B), "wb": torch.from_numpy(W_B)}
    builder = GraphBuilder(wire, {})
    ids, offsets, weights, bags = builder.bags(
        [(a, 0, combiner), (b, 5, combiner)], example_major=example_major
    )
    table = np.random.default_rng(0).standard_normal((8, 2)).astype(np.float32)
    bag = torch.nn.EmbeddingBag(8, 2, mode="sum")
    with torch.no_grad():
        bag.weight.copy_(torch.from_numpy(table))
    out = bag_forward(bag)(ids, offsets, per_sample_weights=weights).detach().numpy()  # (2*B, 2)
    # the bag index agrees with the offsets (the max_norm path reads the index, the bag the offsets)
    marks = np.zeros(ids.numel() + 1, np.int64)
    np.add.at(marks, offsets.numpy(), 1)
    np.testing.assert_array_equal(bags.numpy(), np.cumsum(marks[:-1]) - 1)
    col_a = _oracle(table, IDS_A, None, 0, combiner)
    col_b = _oracle(table, IDS_B, W_B, 5, combiner)
    if example_major:
        got_a, got_b = out.reshape(4, 4)[:, :2], out.reshape(4, 4)[:, 2:]
    else:
        got_a, got_b = out[:4], out[4:]
    np.testing.assert_allclose(got_a, col_a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, col_b, rtol=1e-5, atol=1e-6)
