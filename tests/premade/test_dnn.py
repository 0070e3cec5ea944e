"""DNNClassifier / DNNRegressor / DNNEstimator: TF 2.15 from TF's own initial weights, hand-written forwards."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from oracle_data import IRIS_KEYS, file_order_batches, iris, tf_fixture

from torchestimator import feature_column as fc
from torchestimator.errors import InvalidArgumentError
from torchestimator.heads import BinaryClassHead, MultiClassHead, RegressionHead
from torchestimator.premade import DNNClassifier, DNNEstimator, DNNModelFn, DNNRegressor, TFBatchNorm
from torchestimator.run_config import RunConfig
from torchestimator.spec import ModeKeys

IRIS_TRAIN, IRIS_TEST = iris("iris_training.csv"), iris("iris_test.csv")
IRIS_COLUMNS = [fc.numeric_column(k) for k in IRIS_KEYS]


def _load_tf_weights(model: DNNModelFn, init: dict[str, Any]) -> None:
    tower = model.tower
    with torch.no_grad():
        for i, layer in enumerate(tower.hidden_layers):
            layer.weight.copy_(
                torch.tensor(init[f"dnn/hiddenlayer_{i}/kernel"]).T
            )  # TF (in, out) -> torch (out, in)
            layer.bias.copy_(torch.tensor(init[f"dnn/hiddenlayer_{i}/bias"]))
        tower.logits.weight.copy_(torch.tensor(init["dnn/logits/kernel"]).T)
        tower.logits.bias.copy_(torch.tensor(init["dnn/logits/bias"]))


def test_iris_training_matches_tf_from_the_same_initial_weights(tmp_path: Any) -> None:
    """1000 Adagrad(0.001) steps of [30, 10] relu from TF's checkpoint 0: TF's metrics and logits."""
    expected = tf_fixture()["iris_dnn"]
    est = DNNClassifier([30, 10], IRIS_COLUMNS, n_classes=3, model_dir=tmp_path)
    _load_tf_weights(est.model, expected["init"])
    est.train(lambda: file_order_batches(IRIS_TRAIN, "Species", True, batch=256), steps=1000)
    metrics = est.evaluate(lambda: file_order_batches(IRIS_TEST, "Species", False, batch=256))
    assert (
        sorted(metrics) == sorted(expected["metrics"]) == ["accuracy", "average_loss", "global_step", "loss"]
    )
    for key, value in expected["metrics"].items():
        assert metrics[key] == pytest.approx(value, rel=1e-5), key
    logits = np.stack(
        [p["logits"] for p in est.predict(lambda: file_order_batches(IRIS_TEST, "Species", False, 256))]
    )
    np.testing.assert_allclose(logits, np.asarray(expected["logits"]), atol=1e-5)


def _hand_forward(model: DNNModelFn, x: torch.Tensor, activation: Any) -> torch.Tensor:
    net = x
    for layer in model.tower.hidden_layers:
        net = activation(net @ layer.weight.T + layer.bias)
    return net @ model.tower.logits.weight.T + model.tower.logits.bias


def test_logits_equal_a_hand_written_forward() -> None:
    columns = [
        fc.numeric_column("a", shape=(2,)),
        fc.embedding_column(fc.categorical_column_with_identity("k", 5), 3),
    ]
    model = DNNModelFn(BinaryClassHead(), [4, 3], columns, activation_fn="tanh")
    a = np.arange(8, dtype=np.float32).reshape(4, 2) / 8
    k = np.array([0, 4, 2, 2], np.int64)
    logits = model.logits({"a": a, "k": k}, ModeKeys.EVAL)
    table = model.input_layer.embedding_weights("k_embedding")
    inputs = torch.cat(
        [torch.from_numpy(a), table[torch.from_numpy(k)]], dim=1
    )  # sorted names: a, k_embedding
    torch.testing.assert_close(logits, _hand_forward(model, inputs, torch.tanh))


def test_initialisation_is_glorot_uniform_with_zero_bias() -> None:
    torch.manual_seed(0)
    model = DNNModelFn(BinaryClassHead(), [400], [fc.numeric_column("x", shape=(600,))])
    weight = model.tower.hidden_layers[0].weight.detach()
    bound = np.sqrt(6.0 / (600 + 400))
    assert float(weight.abs().max()) <= bound
    assert float(weight.std()) == pytest.approx(bound / np.sqrt(3), rel=0.02)  # U(-b, b) has std b/sqrt(3)
    assert torch.count_nonzero(model.tower.hidden_layers[0].bias) == 0
    assert torch.count_nonzero(model.tower.logits.bias) == 0


def test_dropout_only_in_train() -> None:
    torch.manual_seed(0)
    model = DNNModelFn(RegressionHead(), [64], [fc.numeric_column("x", shape=(4,))], dropout=0.5)
    x = {"x": np.ones((8, 4), np.float32)}
    eval_a, eval_b = model.logits(x, ModeKeys.EVAL), model.logits(x, ModeKeys.PREDICT)
    torch.testing.assert_close(eval_a, eval_b)
    torch.testing.assert_close(eval_a, _hand_forward(model, torch.ones(8, 4), F.relu))
    train = model.logits(x, ModeKeys.TRAIN)
    assert not torch.allclose(train, eval_a)


def test_batch_norm_is_keras_batch_normalization() -> None:
    """Training: batch mean / biased variance; moving = 0.999 * moving + 0.001 * batch; eps 1e-3."""
    bn = TFBatchNorm(3)
    x = torch.tensor([[1.0, 2.0, 0.0], [3.0, -2.0, 0.5], [2.0, 0.0, 4.0], [0.0, 1.0, 1.0]])
    xn = x.numpy().astype(np.float64)
    mean, var = xn.mean(0), xn.var(0)  # numpy var is the biased one
    np.testing.assert_allclose(
        bn(x, training=True).detach().numpy(), (xn - mean) / np.sqrt(var + 1e-3), rtol=1e-5
    )
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.001 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.999 + 0.001 * var, rtol=1e-6)
    moving_mean, moving_var = bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy()
    np.testing.assert_allclose(
        bn(x, training=False).detach().numpy(), (xn - moving_mean) / np.sqrt(moving_var + 1e-3), rtol=1e-5
    )


def test_batch_norm_layers_follow_each_hidden_layer() -> None:
    model = DNNModelFn(BinaryClassHead(), [5, 4], [fc.numeric_column("x", shape=(3,))], batch_norm=True)
    assert [bn.gamma.shape[0] for bn in model.tower.batch_norms] == [5, 4]
    x = torch.randn(6, 3)
    net = x
    for layer, bn in zip(model.tower.hidden_layers, model.tower.batch_norms):
        net = bn(F.relu(layer(net)), training=False)
    torch.testing.assert_close(model.logits({"x": x.numpy()}, ModeKeys.PREDICT), model.tower.logits(net))


def test_embedding_tables_get_sparse_adagrad_updates(tmp_path: Any) -> None:
    col = fc.embedding_column(fc.categorical_column_with_hash_bucket("k", 1000, dtype="int64"), 4)
    est = DNNClassifier([8], [col], model_dir=tmp_path)
    table_before = est.model.input_layer.embedding_weights("k_embedding").detach().clone()
    batch = ({"k": np.array([1, 2, 3], np.int64)}, np.array([0, 1, 1]))
    est.train(lambda: batch, steps=1)
    opt = est.model.optimizers()["optimizer"]
    assert isinstance(opt, torch.optim.Adagrad)
    assert (
        opt.defaults["lr"] == 0.001
        and opt.defaults["initial_accumulator_value"] == 0.1
        and opt.defaults["eps"] == 1e-7
    )
    table_after = est.model.input_layer.embedding_weights("k_embedding").detach()
    changed = torch.nonzero((table_after != table_before).any(dim=1)).reshape(-1)
    assert 1 <= changed.numel() <= 3  # only the rows of the three ids moved


@pytest.mark.parametrize(
    ("head", "keys"),
    [
        (
            BinaryClassHead(),
            ["all_class_ids", "all_classes", "class_ids", "classes", "logistic", "logits", "probabilities"],
        ),
        (
            MultiClassHead(3),
            ["all_class_ids", "all_classes", "class_ids", "classes", "logits", "probabilities"],
        ),
        (RegressionHead(), ["predictions"]),
    ],
)
def test_predict_yields_the_reference_keys(tmp_path: Any, head: Any, keys: list[str]) -> None:
    untrained = RunConfig(allow_untrained=True)  # the keys, not the values, are under test
    est = DNNEstimator(head, [4], [fc.numeric_column("x")], model_dir=tmp_path, config=untrained)
    pred = next(iter(est.predict(lambda: {"x": np.zeros(2, np.float32)})))
    assert sorted(pred) == keys


def test_string_labels_with_vocabulary(tmp_path: Any) -> None:
    est = DNNClassifier(
        [4], [fc.numeric_column("x")], n_classes=3, label_vocabulary=["a", "b", "c"], model_dir=tmp_path
    )
    x = np.array([0.0, 1.0, 2.0], np.float32)
    est.train(lambda: ({"x": x}, np.array(["a", "b", "c"], object)), steps=2)
    pred = next(iter(est.predict(lambda: {"x": x})))
    assert pred["all_classes"].tolist() == [b"a", b"b", b"c"]
    assert pred["classes"][0] == [b"a", b"b", b"c"][int(pred["class_ids"][0])]


def test_regressor_label_dimension(tmp_path: Any) -> None:
    est = DNNRegressor([4], [fc.numeric_column("x")], label_dimension=2, model_dir=tmp_path)
    est.train(lambda: ({"x": np.ones(3, np.float32)}, np.ones((3, 2), np.float32)), steps=2)
    metrics = est.evaluate(lambda: ({"x": np.ones(3, np.float32)}, np.ones((3, 2), np.float32)))
    assert sorted(metrics) == ["average_loss", "global_step", "label/mean", "loss", "prediction/mean"]
    assert next(iter(est.predict(lambda: {"x": np.ones(1, np.float32)})))["predictions"].shape == (2,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden_units": None}, "hidden_units must be a list"),
        ({"hidden_units": [10, 0]}, "entries must be ints >= 1"),
        ({"n_classes": 0}, "n_classes"),
        ({"optimizer": "adamw"}, "unsupported optimizer name"),
        ({"activation_fn": "rellu"}, "did you mean 'relu'"),
        ({"dropout": 1.5}, "dropout"),
    ],
)
def test_bad_arguments_raise_clear_errors(tmp_path: Any, kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "hidden_units": [4],
        "feature_columns": [fc.numeric_column("x")],
        "model_dir": tmp_path,
    }
    args.update(kwargs)
    with pytest.raises(InvalidArgumentError, match=message):
        DNNClassifier(**args)


def test_categorical_column_needs_an_embedding(tmp_path: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="embedding_column or indicator_column"):
        DNNClassifier([4], [fc.categorical_column_with_identity("k", 3)], model_dir=tmp_path)
