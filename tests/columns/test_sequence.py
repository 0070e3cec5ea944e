"""Sequence columns + SequenceFeatures equal a hand-written numpy padding / lookup."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from torchestimator import feature_column as fc
from torchestimator.errors import FeatureError, InvalidArgumentError

TOKENS = fc.sequence_categorical_column_with_vocabulary_list("tok", ["a", "b", "c"], num_oov_buckets=1)
IDS = fc.sequence_categorical_column_with_identity("pos", 5)
PRICE = fc.sequence_numeric_column("price", shape=2, default_value=-1.0)
FEATS = {
    "tok": [["a", "c", "zz"], ["b"], []],
    "pos": [[0, 1, 4], [2], []],
    "price": [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [7.0, 8.0], []],
}


def test_sequence_features_equal_numpy() -> None:
    emb = fc.embedding_column(TOKENS, 3)
    layer = fc.SequenceFeatures([emb, fc.indicator_column(IDS), PRICE])
    dense, lengths = layer(FEATS)
    assert lengths.tolist() == [3, 1, 0]
    table = layer.embeddings[layer.table_index("tok_embedding")].weight.detach().numpy()
    tok_ids = [[0, 2, 3], [1], []]
    expected = np.zeros((3, 3, 5 + 2 + 3))  # sorted: pos_indicator, price, tok_embedding
    expected[:, :, 5:7] = -1.0
    for b in range(3):
        for t in range(len(FEATS["pos"][b])):
            expected[b, t, FEATS["pos"][b][t]] = 1.0
            expected[b, t, 5:7] = FEATS["price"][b][2 * t : 2 * t + 2]
            expected[b, t, 7:] = table[tok_ids[b][t]]
    np.testing.assert_allclose(dense.detach().numpy(), expected, rtol=1e-6)


def test_sequence_gradients_are_sparse() -> None:
    layer = fc.SequenceFeatures([fc.embedding_column(TOKENS, 3)])
    dense, _ = layer({"tok": FEATS["tok"]})
    dense.sum().backward()
    grad = layer.embeddings[0].weight.grad
    assert grad is not None and grad.is_sparse
    assert sorted(set(grad.coalesce().indices()[0].tolist())) == [0, 1, 2, 3]


def test_mismatched_sequence_lengths_and_non_sequence_columns() -> None:
    layer = fc.SequenceFeatures([fc.indicator_column(IDS), fc.embedding_column(TOKENS, 2)])
    with pytest.raises(FeatureError, match="same length"):
        layer({"tok": [["a"], ["b"]], "pos": [[0, 1], [2]]})
    with pytest.raises(InvalidArgumentError, match="not a sequence column"):
        fc.SequenceFeatures([fc.numeric_column("x")])
    with pytest.raises(InvalidArgumentError, match="use SequenceFeatures"):
        fc.DenseFeatures([fc.embedding_column(TOKENS, 2)])


@pytest.mark.parametrize("column", [TOKENS, IDS, PRICE, fc.embedding_column(TOKENS, 4)], ids=lambda c: c.name)
def test_sequence_columns_round_trip_json(column: fc.FeatureColumn) -> None:
    assert fc.deserialize_column(json.loads(json.dumps(fc.serialize_column(column)))) == column


def test_sequence_state_restores() -> None:
    src = fc.SequenceFeatures([fc.embedding_column(TOKENS, 3), PRICE])
    dst = fc.SequenceFeatures([fc.embedding_column(TOKENS, 3), PRICE])
    dst.load_state_dict(
        json.loads(
            json.dumps(
                {k: v.tolist() if isinstance(v, torch.Tensor) else v for k, v in src.state_dict().items()}
            )
        )
        | {k: v for k, v in src.state_dict().items() if isinstance(v, torch.Tensor)}
    )
    torch.testing.assert_close(
        dst({"tok": FEATS["tok"], "price": FEATS["price"]})[0],
        src({"tok": FEATS["tok"], "price": FEATS["price"]})[0],
    )
