"""pack_bags: column-major and example-major layouts against a numpy per-(example, column) oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from torchestimator.columns.base import CategoricalIds
from torchestimator.columns.fused_bag import pack_bags
from torchestimator.errors import FeatureError

BATCH, DIM = 5, 3


def _ragged(rng: np.random.Generator, lengths: list[int], buckets: int, weighted: bool) -> CategoricalIds:
    splits = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    values = rng.integers(0, buckets, splits[-1]).astype(np.int64)
    weights = rng.uniform(0.5, 2.0, splits[-1]).astype(np.float32) if weighted else None
    return CategoricalIds(values, splits, weights)


def _oracle(table: np.ndarray, ids: CategoricalIds, start: int, combiner: str) -> np.ndarray:
    """(B, D): per example, combine the looked-up rows as TF's safe_embedding_lookup_sparse does."""
    out = np.zeros((ids.nrows, table.shape[1]), np.float64)
    for b in range(ids.nrows):
        lo, hi = ids.row_splits[b], ids.row_splits[b + 1]
        w = np.ones(hi - lo) if ids.weights is None else ids.weights[lo:hi].astype(np.float64)
        rows = table[start + ids.values[lo:hi]]
        total = (rows * w[:, None]).sum(0)
        if combiner == "mean" and w.sum() > 0:
            total = total / w.sum()
        elif combiner == "sqrtn" and w.sum() > 0:
            total = total / np.sqrt((w * w).sum())
        out[b] = total
    return out


def _columns(single: bool, weighted: bool, combiner: str) -> list[tuple[str, CategoricalIds, int, int, str]]:
    rng = np.random.default_rng(0)
    cols = []
    start = 0
    for c, buckets in enumerate([4, 7, 3]):
        lengths = [1] * BATCH if single else list(rng.integers(0, 4, BATCH))
        cols.append((f"c{c}", _ragged(rng, lengths, buckets, weighted), start, buckets, combiner))
        start += buckets
    return cols


@pytest.mark.parametrize("single", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
def test_example_major_bags_are_the_concatenated_columns(single: bool, weighted: bool, combiner: str) -> None:
    cols = _columns(single, weighted, combiner)
    table = np.random.default_rng(1).standard_normal((14, DIM)).astype(np.float32)
    bag = nn.EmbeddingBag(14, DIM, mode="sum")
    with torch.no_grad():
        bag.weight.copy_(torch.from_numpy(table))
    packed = pack_bags(cols, example_major=True, with_bag_index=True)
    w = None if packed.weights is None else torch.from_numpy(packed.weights)
    out = bag(
        torch.from_numpy(packed.ids), torch.from_numpy(packed.offsets), per_sample_weights=w
    )  # (B*k, D)
    expected = np.concatenate([_oracle(table, ids, start, comb) for _, ids, start, _, comb in cols], axis=1)
    np.testing.assert_allclose(out.view(BATCH, -1).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    # the bag index names bag b * k + c for every id, consistent with the offsets
    assert packed.bags is not None
    lengths = np.diff(np.append(packed.offsets, packed.ids.size))
    np.testing.assert_array_equal(packed.bags, np.repeat(np.arange(BATCH * len(cols)), lengths))


def test_column_major_bags_stack_columns_first() -> None:
    cols = _columns(single=False, weighted=True, combiner="mean")
    table = np.random.default_rng(2).standard_normal((14, DIM)).astype(np.float32)
    bag = nn.EmbeddingBag(14, DIM, mode="sum")
    with torch.no_grad():
        bag.weight.copy_(torch.from_numpy(table))
    packed = pack_bags(cols)
    assert packed.weights is not None
    out = bag(
        torch.from_numpy(packed.ids),
        torch.from_numpy(packed.offsets),
        per_sample_weights=torch.from_numpy(packed.weights),
    ).view(len(cols), BATCH, DIM)  # (k, B, D)
    for c, (_, ids, start, _, comb) in enumerate(cols):
        np.testing.assert_allclose(
            out[c].detach().numpy(), _oracle(table, ids, start, comb), rtol=1e-5, atol=1e-6
        )


def test_out_of_range_id_and_batch_mismatch_are_errors() -> None:
    ids = CategoricalIds(np.array([0, 9]), np.array([0, 1, 2]))
    with pytest.raises(FeatureError, match=r"'a' produced id 9 >= num_buckets 5"):
        pack_bags([("a", ids, 0, 5, "sum")], example_major=True)
    other = CategoricalIds(np.array([0]), np.array([0, 1]))
    with pytest.raises(FeatureError, match="column 'b' has batch size 1 but other columns have 2"):
        pack_bags([("a", ids, 0, 10, "sum"), ("b", other, 10, 5, "sum")], example_major=True)
