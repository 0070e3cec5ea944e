"""Sparse gradients: one optimizer step changes only the table rows the batch used."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchestimator import feature_column as fc


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad"])
def test_only_rows_in_batch_change(optimizer: str) -> None:
    torch.manual_seed(0)
    a = fc.categorical_column_with_identity("a", 50)
    b = fc.categorical_column_with_hash_bucket("b", 40)
    dnn = fc.DenseFeatures(
        [
            fc.embedding_column(a, 4),
            fc.embedding_column(b, 4, max_norm=10.0),
            fc.embedding_column(fc.categorical_column_with_identity("c", 30), 4),
        ]
    )
    linear = fc.LinearModel([a, b], units=1)
    params = list(dnn.parameters()) + list(linear.parameters())
    opt = torch.optim.SGD(params, lr=0.5) if optimizer == "sgd" else torch.optim.Adagrad(params, lr=0.5)
    feats = {"a": np.asarray([3, 7, 3]), "b": ["x", "y", "x"], "c": np.asarray([0, 29, 5])}
    before_dnn = {k: v.detach().clone() for k, v in dnn.state_dict().items() if isinstance(v, torch.Tensor)}
    before_lin = linear.sparse_weights.weight.detach().clone()
    loss = dnn(feats).pow(2).sum() + linear(feats).sum()
    loss.backward()
    assert all(p.grad is None or p.grad.is_sparse for p in (*dnn.parameters(), linear.sparse_weights.weight))
    opt.step()

    b_ids = sorted(set(fc.TransformCache(feats).get(b).values.tolist()))
    weight = dnn.embedding_tables["dim4"].weight.detach()
    changed = set(
        torch.nonzero((weight != before_dnn["embedding_tables.dim4.weight"]).any(1)).ravel().tolist()
    )
    key, start, _ = dnn.table_rows("c_embedding")
    assert key == "dim4" and start == 50
    assert changed == {3, 7} | {50 + 5, 50 + 0, 50 + 29}
    clipped = dnn.embedding_tables["dim4_maxnorm0"].weight.detach()
    changed_b = set(
        torch.nonzero((clipped != before_dnn["embedding_tables.dim4_maxnorm0.weight"]).any(1))
        .ravel()
        .tolist()
    )
    assert changed_b == set(b_ids)
    lin_changed = set(
        torch.nonzero((linear.sparse_weights.weight.detach() != before_lin).any(1)).ravel().tolist()
    )
    assert lin_changed == {3, 7} | {50 + i for i in b_ids}
