"""A torch optimizer that refuses sparse gradients fails before step 1, naming te.optimizers.Adam."""

from __future__ import annotations

import pytest
import torch

import torchestimator as te
from torchestimator.errors import InvalidArgumentError


class EmbeddingModel(torch.nn.Module):
    def __init__(self, params):
        super().__init__()
        self.table = torch.nn.EmbeddingBag(10, 2, mode="sum", sparse=True)  # as feature-column embeddings
        self.out = torch.nn.Linear(2, 1)
        self.optimizer = params["optimizer"](self.parameters(), lr=0.1)

    def forward(self, features, labels=None, mode=te.ModeKeys.TRAIN):
        y = self.out(self.table(features["ids"]))  # (B, 1)
        if mode == te.ModeKeys.PREDICT:
            return te.EstimatorSpec(mode, predictions={"y": y})
        return te.EstimatorSpec(mode, loss=((y - labels) ** 2).mean(), train_op=self.optimizer)


def _input():
    ids = torch.tensor([[1, 2], [3, 4], [5, 6], [7, 8]])
    return iter([({"ids": ids}, torch.ones(4, 1))] * 3)


@pytest.mark.parametrize("optimizer", [torch.optim.Adam, torch.optim.RMSprop, torch.optim.AdamW])
def test_refusing_optimizer_fails_before_step_one(tmp_path, optimizer):
    est = te.Estimator(EmbeddingModel, model_dir=str(tmp_path), params={"optimizer": optimizer})
    before = est.model.table.weight.detach().clone()
    with pytest.raises(
        InvalidArgumentError,
        match=r"te\.optimizers\.(Adam|RMSProp).*\['table.weight'\]|"
        r"\['table.weight'\].*te\.optimizers\.(Adam|RMSProp)",
    ):
        est.train(_input, steps=3)
    assert est.global_step == 0
    assert torch.equal(est.model.table.weight.detach(), before)


@pytest.mark.parametrize("optimizer", [te.optimizers.Adam, torch.optim.SGD, torch.optim.Adagrad])
def test_sparse_capable_optimizers_train(tmp_path, optimizer):
    est = te.Estimator(EmbeddingModel, model_dir=str(tmp_path), params={"optimizer": optimizer})
    est.train(_input, steps=3)
    assert est.global_step == 3


class ColumnsModel(torch.nn.Module):
    """The issue's case: a custom model with feature-column embeddings and the user's torch optimizer."""

    def __init__(self, params):
        super().__init__()
        from torchestimator.columns import (
            DenseFeatures,
            categorical_column_with_hash_bucket,
            embedding_column,
        )

        self.dense = DenseFeatures([embedding_column(categorical_column_with_hash_bucket("w", 7), 3)])
        self.logits = torch.nn.Linear(3, 1)
        self.optimizer = params["optimizer"](self.parameters(), lr=0.05)

    def forward(self, features, labels=None, mode=te.ModeKeys.TRAIN):
        y = self.logits(self.dense(features))  # (B, 1)
        return te.EstimatorSpec(mode, loss=((y - labels) ** 2).mean(), train_op=self.optimizer, predictions=y)


def _word_input():
    import numpy as np

    return iter([({"w": np.array(["a", "b", "c", "d"])}, np.ones((4, 1), np.float32))] * 3)


def test_feature_column_embeddings_with_torch_adam(tmp_path):
    est = te.Estimator(ColumnsModel, model_dir=str(tmp_path / "a"), params={"optimizer": torch.optim.Adam})
    with pytest.raises(InvalidArgumentError, match=r"te\.optimizers\.Adam") as err:
        est.train(_word_input, steps=3)
    assert "dense.embedding_tables" in str(err.value) and est.global_step == 0
    fixed = te.Estimator(
        ColumnsModel, model_dir=str(tmp_path / "b"), params={"optimizer": te.optimizers.Adam}
    )
    fixed.train(_word_input, steps=3)
    assert fixed.global_step == 3
