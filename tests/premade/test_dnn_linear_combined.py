"""Wide & deep: logits = linear + dnn, two optimizers with TF's defaults, both stepped once per step."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from torchestimator import feature_column as fc
from torchestimator.errors import InvalidArgumentError
from torchestimator.heads import BinaryClassHead
from torchestimator.optimizers import Ftrl
from torchestimator.premade import (
    DNNLinearCombinedClassifier,
    DNNLinearCombinedModelFn,
    DNNLinearCombinedRegressor,
)
from torchestimator.spec import ModeKeys

LINEAR = [fc.categorical_column_with_identity("k", 6), fc.numeric_column("x")]
DNN = [fc.numeric_column("x"), fc.embedding_column(fc.categorical_column_with_identity("k", 6), 2)]
FEATURES = {"k": np.array([0, 5, 3, 3], np.int64), "x": np.array([0.5, -1.0, 2.0, 0.0], np.float32)}
LABELS = np.array([1, 0, 1, 0], np.int64)


def test_logits_are_linear_plus_dnn() -> None:
    torch.manual_seed(0)
    model = DNNLinearCombinedModelFn(BinaryClassHead(), LINEAR, "Ftrl", DNN, "Adagrad", [3])
    with torch.no_grad():
        model.linear_model.sparse_weights.weight.copy_(torch.arange(6.0).reshape(6, 1) / 10)
        model.linear_model.dense_kernel.fill_(0.7)
        model.linear_model.bias.fill_(-0.2)
    x, k = torch.from_numpy(FEATURES["x"]), torch.from_numpy(FEATURES["k"])
    linear = (k.float() / 10 + 0.7 * x - 0.2).unsqueeze(1)  # hand computation of the wide part
    tower = model.dnn_tower
    emb = model.dnn_input_layer.embedding_weights("k_embedding")[k]
    inputs = torch.cat([emb, x.unsqueeze(1)], dim=1)  # sorted names: k_embedding, x
    deep = tower.logits(torch.relu(tower.hidden_layers[0](inputs)))
    torch.testing.assert_close(model.logits(FEATURES, ModeKeys.EVAL), linear + deep)
    torch.testing.assert_close(model.linear_logits(FEATURES), linear)


def test_two_optimizers_with_tf_default_learning_rates(tmp_path: Any) -> None:
    est = DNNLinearCombinedClassifier(
        model_dir=tmp_path, linear_feature_columns=LINEAR, dnn_feature_columns=DNN, dnn_hidden_units=[3]
    )
    model = est.model
    linear_before = model.linear_model.bias.detach().clone()
    dnn_before = model.dnn_tower.logits.bias.detach().clone()
    est.train(lambda: (FEATURES, LABELS), steps=1)
    opts = model.optimizers()
    assert sorted(opts) == ["dnn", "linear"]
    assert isinstance(opts["linear"], Ftrl) and opts["linear"].defaults["lr"] == pytest.approx(
        min(0.005, 1 / math.sqrt(2))
    )
    assert isinstance(opts["dnn"], torch.optim.Adagrad) and opts["dnn"].defaults["lr"] == 0.001
    assert est.global_step == 1  # one step for both optimizers
    assert not torch.equal(model.linear_model.bias.detach(), linear_before)
    assert not torch.equal(model.dnn_tower.logits.bias.detach(), dnn_before)
    linear_ids = {id(p) for g in opts["linear"].param_groups for p in g["params"]}
    dnn_ids = {id(p) for g in opts["dnn"].param_groups for p in g["params"]}
    assert not linear_ids & dnn_ids
    assert linear_ids | dnn_ids == {id(p) for p in model.parameters()}


def test_checkpoint_round_trip_keeps_both_optimizers(tmp_path: Any) -> None:
    kwargs = {"linear_feature_columns": LINEAR, "dnn_feature_columns": DNN, "dnn_hidden_units": [3]}
    est = DNNLinearCombinedRegressor(model_dir=tmp_path, **kwargs)
    y = np.array([[1.0], [0.0], [2.0], [1.0]], np.float32)
    est.train(lambda: (FEATURES, y), steps=3)
    again = DNNLinearCombinedRegressor(model_dir=tmp_path, **kwargs)
    np.testing.assert_allclose(
        [p["predictions"] for p in again.predict(lambda: FEATURES)],
        [p["predictions"] for p in est.predict(lambda: FEATURES)],
        rtol=1e-6,
    )
    again.train(lambda: (FEATURES, y), steps=1)
    assert again.global_step == 4
    state = again.model.optimizers()["linear"].state
    assert any("accumulator" in s for s in state.values())  # FTRL slots restored and advanced


def test_linear_only_and_dnn_only(tmp_path: Any) -> None:
    only_linear = DNNLinearCombinedClassifier(model_dir=tmp_path / "a", linear_feature_columns=LINEAR)
    assert only_linear.model.dnn_tower is None
    only_linear.train(lambda: (FEATURES, LABELS), steps=1)
    assert sorted(only_linear.model.optimizers()) == ["linear"]
    only_dnn = DNNLinearCombinedClassifier(
        model_dir=tmp_path / "b", dnn_feature_columns=DNN, dnn_hidden_units=[2]
    )
    only_dnn.train(lambda: (FEATURES, LABELS), steps=1)
    assert sorted(only_dnn.model.optimizers()) == ["dnn"]


def test_bad_arguments(tmp_path: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="either linear_feature_columns or dnn_feature_columns"):
        DNNLinearCombinedClassifier(model_dir=tmp_path)
    with pytest.raises(InvalidArgumentError, match="dnn_hidden_units must be defined"):
        DNNLinearCombinedClassifier(model_dir=tmp_path, dnn_feature_columns=DNN)
    with pytest.raises(InvalidArgumentError, match="linear_optimizer"):
        DNNLinearCombinedClassifier(
            model_dir=tmp_path, linear_feature_columns=LINEAR, linear_optimizer="Fttrl"
        )
