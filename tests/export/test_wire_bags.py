"""export.graph_inputs: the in-graph fused bags give DenseFeatures' example-major layout, and LinearModel's
padded slots give its logits. Oracle: numpy per-(example, column) combiner sums."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from torchestimator import feature_column as fc
from torchestimator.columns.linear_model import LinearModel
from torchestimator.export.graph_inputs import GraphBuilder, bag_forward, build_layer_inputs
from torchestimator.parsing import Ragged

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


@pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
def test_graph_bags_match_numpy_example_major(combiner: str) -> None:
    a = fc.categorical_column_with_identity("a", 5)
    b = fc.weighted_categorical_column(fc.categorical_column_with_identity("b", 3), "wb")
    wire = {"a": torch.from_numpy(IDS_A), "b": torch.from_numpy(IDS_B), "wb": torch.from_numpy(W_B)}
    ids, offsets, weights, bags = GraphBuilder(wire, {}).bags([(a, 0, combiner), (b, 5, combiner)])
    table = np.random.default_rng(0).standard_normal((8, 2)).astype(np.float32)
    bag = torch.nn.EmbeddingBag(8, 2, mode="sum")
    with torch.no_grad():
        bag.weight.copy_(torch.from_numpy(table))
    out = bag_forward(bag)(ids, offsets, per_sample_weights=weights).detach().numpy()  # (B*2, 2)
    # the bag index agrees with the offsets (the max_norm path reads the index, the bag the offsets)
    marks = np.zeros(ids.numel() + 1, np.int64)
    np.add.at(marks, offsets.numpy(), 1)
    np.testing.assert_array_equal(bags.numpy(), np.cumsum(marks[:-1]) - 1)
    got_a, got_b = out.reshape(4, 4)[:, :2], out.reshape(4, 4)[:, 2:]
    np.testing.assert_allclose(got_a, _oracle(table, IDS_A, None, 0, combiner), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, _oracle(table, IDS_B, W_B, 5, combiner), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
def test_linear_model_from_graph_slots_matches_numpy_and_its_host_path(combiner: str) -> None:
    a = fc.categorical_column_with_identity("a", 5)
    b = fc.weighted_categorical_column(fc.categorical_column_with_identity("b", 3), "wb")
    layer = LinearModel([a, b], units=2, sparse_combiner=combiner)
    table = np.random.default_rng(1).standard_normal((8, 2)).astype(np.float32)
    with torch.no_grad():
        layer.sparse_weights.weight.copy_(torch.from_numpy(table))
        layer.bias.copy_(torch.tensor([0.25, -1.5]))
    wire = {"a": torch.from_numpy(IDS_A), "b": torch.from_numpy(IDS_B), "wb": torch.from_numpy(W_B)}
    inputs = build_layer_inputs(GraphBuilder(wire, {}), [layer])
    assert f"{layer.key_prefix}/slot_ids" in inputs and f"{layer.key_prefix}/ids" not in inputs
    got = layer(inputs).detach().numpy()  # (B, 2)
    start_b = layer.column_rows(b.name)[0]
    start_a = layer.column_rows(a.name)[0]
    expected = (
        _oracle(table, IDS_A, None, start_a, combiner)
        + _oracle(table, IDS_B, W_B, start_b, combiner)
        + np.array([0.25, -1.5])
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # the same logits as the layer's own host packing of the same raw features
    raw = {"a": _ragged(IDS_A), "b": _ragged(IDS_B), "wb": _ragged(np.where(IDS_B >= 0, W_B, 0.0), IDS_B)}
    np.testing.assert_allclose(layer(raw).detach().numpy(), got, rtol=1e-5, atol=1e-6)


def _ragged(values: np.ndarray, ids: np.ndarray | None = None) -> Any:
    """A padded (B, L) array (-1 = missing, judged on ``ids`` when given) as a Ragged batch."""
    keep = (values if ids is None else ids) >= 0
    splits = np.concatenate([[0], np.cumsum(keep.sum(1))]).astype(np.int64)
    return Ragged(values[keep], splits)
