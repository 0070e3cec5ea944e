"""Heads refuse labels of the wrong structure and negative / NaN weights, naming the head or column."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from torchestimator import feature_column as fc
from torchestimator.errors import InvalidArgumentError
from torchestimator.heads import (
    BinaryClassHead,
    LogisticRegressionHead,
    MultiClassHead,
    MultiHead,
    MultiLabelHead,
    PoissonRegressionHead,
    RegressionHead,
    find_weight_keys,
)

SINGLE_HEADS = [
    (BinaryClassHead(), 1),
    (BinaryClassHead(name="ctr"), 1),
    (MultiClassHead(3), 3),
    (RegressionHead(), 1),
    (PoissonRegressionHead(), 1),
    (LogisticRegressionHead(), 1),
]


def _ids(heads: list) -> list[str]:
    return [h._describe() for h, _ in heads]


@pytest.mark.parametrize(("head", "dim"), SINGLE_HEADS, ids=_ids(SINGLE_HEADS))
def test_a_dict_of_labels_for_a_single_head_names_the_head(head: object, dim: int) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        head.loss({"y": np.ones(4), "z": np.zeros(4)}, torch.zeros(4, dim))
    message = str(info.value)
    assert message.startswith(head._describe() + " expects labels as one tensor or array of shape")
    assert "received a dict with keys ['y', 'z']" in message and "MultiHead" in message


@pytest.mark.parametrize(("head", "dim"), SINGLE_HEADS, ids=_ids(SINGLE_HEADS))
def test_ragged_rows_for_a_single_head_name_the_head(head: object, dim: int) -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"expects labels as .*received a list of rows of lengths \[1, 2\]"
    ):
        head.loss([[1], [0, 1], [1], [1]], torch.zeros(4, dim))


@pytest.mark.parametrize(("head", "dim"), SINGLE_HEADS, ids=_ids(SINGLE_HEADS))
def test_wrong_rank_or_batch_names_the_head_and_the_expected_shape(head: object, dim: int) -> None:
    name = head._describe()
    with pytest.raises(
        InvalidArgumentError,
        match=rf"{name} expects labels of shape \[4, 1\].*received labels of shape \[4, 1, 1\]",
    ):
        head.loss(np.ones((4, 1, 1), dtype=np.int64), torch.zeros(4, dim))
    with pytest.raises(
        InvalidArgumentError,
        match=rf"{name} expects labels of shape \[4, 1\].*received labels of shape \[3\]",
    ):
        head.loss(np.ones(3, dtype=np.int64), torch.zeros(4, dim))


def test_a_plain_list_of_numbers_is_still_accepted() -> None:
    assert float(BinaryClassHead().loss([1, 0, 1, 1], torch.zeros(4, 1))) == pytest.approx(np.log(2))


def test_multi_label_head_refuses_a_dict_and_a_batch_mismatch() -> None:
    head = MultiLabelHead(3)
    with pytest.raises(InvalidArgumentError, match=r"MultiLabelHead expects labels as a multi-hot indicator"):
        head.loss({"y": [[0]]}, torch.zeros(1, 3))
    with pytest.raises(
        InvalidArgumentError, match=r"MultiLabelHead got labels for 2 examples but logits for 3"
    ):
        head.loss([[0], [1, 2]], torch.zeros(3, 3))


def test_multi_head_needs_a_dict_keyed_by_head_name() -> None:
    head = MultiHead([BinaryClassHead(name="a"), RegressionHead(name="b")])
    with pytest.raises(
        InvalidArgumentError, match=r"MultiHead expects labels as a dict keyed by head name \['a', 'b'\]"
    ):
        head.loss(np.ones(2), torch.zeros(2, 2))
    with pytest.raises(InvalidArgumentError, match=r"no values for head\(s\) \['b'\].*did you mean 'bb'"):
        head.loss({"a": np.ones(2), "bb": np.ones(2)}, torch.zeros(2, 2))


# ---- weights ----------------------------------------------------------------------------------------
def _metrics(head: BinaryClassHead, weights: np.ndarray) -> dict[str, float]:
    logits = torch.tensor([[1.0], [1.0], [1.0], [-1.0]])
    out = head.metrics({"w": weights}, logits, np.array([1, 0, 1, 0]))
    return {k: m.result() for k, m in out.items()}


@pytest.mark.parametrize(
    ("weights", "problem"),
    [
        (np.array([1.0, -1.0, 1.0, 1.0]), "1 negative value (min -1)"),
        (np.array([1.0, -1.0, -3.0, 1.0]), "2 negative values (min -3)"),
        (np.array([1.0, np.nan, 1.0, 1.0]), "1 NaN value"),
        (np.array([-2.0, np.nan, 1.0, 1.0]), "1 negative value (min -2) and 1 NaN value"),
    ],
)
def test_negative_or_nan_weights_raise_naming_the_column(weights: np.ndarray, problem: str) -> None:
    # before: accuracy 1.5, precision 2.0 (the "accuracy 2.0")
    head = BinaryClassHead(weight_column="w")
    for call in (
        lambda: _metrics(head, weights),
        lambda: head.loss(np.array([1, 0, 1, 0]), torch.zeros(4, 1), {"w": weights}),
    ):
        with pytest.raises(InvalidArgumentError) as info:
            call()
        assert f"weight_column 'w' has {problem} in a batch of 4 examples" in str(info.value)


def test_valid_weights_give_the_weighted_accuracy() -> None:
    weights = np.array([1.0, 0.0, 2.0, 3.0])
    matches = np.array([1.0, 0.0, 1.0, 1.0])  # logits > 0 -> class 1; labels [1, 0, 1, 0]
    assert _metrics(BinaryClassHead(weight_column="w"), weights)["accuracy"] == pytest.approx(
        np.average(matches, weights=weights)
    )


def test_a_normalizer_may_map_negative_raw_weights_to_valid_ones() -> None:
    column = fc.numeric_column("w", normalizer_fn=torch.exp)
    head = BinaryClassHead(weight_column=column)
    raw = np.array([0.0, -1.0, 1.0, 2.0])
    expected = np.average([1.0, 0.0, 1.0, 1.0], weights=np.exp(raw))
    assert _metrics(head, raw)["accuracy"] == pytest.approx(expected, rel=1e-6)
    negative_after = BinaryClassHead(weight_column=fc.numeric_column("w", normalizer_fn=lambda t: t - 5))
    with pytest.raises(InvalidArgumentError, match=r"weight_column 'w' has 4 negative values"):
        _metrics(negative_after, raw)


def test_find_weight_keys_walks_the_model_and_multi_heads() -> None:
    model = nn.Module()
    model.tower = nn.Module()
    model.tower.head = MultiHead(
        [
            BinaryClassHead(weight_column="w1", name="a"),
            RegressionHead(weight_column=fc.numeric_column("w2"), name="b"),
        ]
    )
    model.other = BinaryClassHead(
        weight_column=fc.numeric_column("w3", normalizer_fn=torch.exp)
    )  # checked in the head
    model.plain = RegressionHead()
    assert find_weight_keys(model) == ("w1", "w2")
