"""LinearClassifier / LinearRegressor / LinearEstimator against TF 2.15 runs and hand computations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from oracle_data import CATEGORICAL, file_order_batches, tf_fixture, titanic

from torchestimator import feature_column as fc
from torchestimator.errors import InvalidArgumentError
from torchestimator.heads import MultiLabelHead
from torchestimator.optimizers import Ftrl
from torchestimator.premade import LinearClassifier, LinearEstimator, LinearModelFn, LinearRegressor
from torchestimator.spec import ModeKeys

TRAIN, EVAL = titanic("train.csv"), titanic("eval.csv")


def seed_columns() -> list[Any]:
    return [
        fc.numeric_column("age"),
        fc.categorical_column_with_vocabulary_list("class", ["First", "Second", "Third"]),
        fc.categorical_column_with_hash_bucket("embark_town", 32),
    ]


def full_columns() -> list[Any]:
    cols = [
        fc.categorical_column_with_vocabulary_list(n, list(dict.fromkeys(TRAIN[n].tolist())))
        for n in CATEGORICAL
    ]
    return [*cols, fc.numeric_column("age"), fc.numeric_column("fare")]


def _check_against_tf(est: Any, name: str, label: str, steps: int, tmp_keys: bool = True) -> None:
    expected = tf_fixture()[name]
    est.train(lambda: file_order_batches(TRAIN, label, True), steps=steps)
    metrics = est.evaluate(lambda: file_order_batches(EVAL, label, False))
    assert sorted(metrics) == sorted(expected["metrics"])  # TF's exact metric names
    for key, value in expected["metrics"].items():
        assert metrics[key] == pytest.approx(value, rel=2e-5, abs=1e-6), key
    first = {k: v[:16] for k, v in EVAL.items() if k != label}
    out = [p.get("logits", p.get("predictions")) for p in est.predict(lambda: first)]
    np.testing.assert_allclose(
        np.asarray(out).reshape(-1), np.asarray(expected["logits"]).reshape(-1), atol=2e-5, rtol=1e-5
    )
    bias = est.model.linear_model.bias.detach().numpy()
    np.testing.assert_allclose(bias, expected["bias"], atol=1e-6)


def test_seed_example_matches_tf_step_for_step(tmp_path: Any) -> None:
    """Same batches, same FTRL(0.2), zero init: TF's metrics, logits and bias to float32 round-off."""
    _check_against_tf(LinearClassifier(seed_columns(), model_dir=tmp_path), "linear_seed", "survived", 200)


def test_full_feature_set_matches_tf(tmp_path: Any) -> None:
    _check_against_tf(LinearClassifier(full_columns(), model_dir=tmp_path), "linear_full", "survived", 200)


def test_regressor_sum_reduction_matches_tf(tmp_path: Any) -> None:
    cols = [
        fc.numeric_column("age"),
        fc.categorical_column_with_vocabulary_list("class", ["First", "Second", "Third"]),
    ]
    est = LinearRegressor(cols, model_dir=tmp_path, loss_reduction="sum")
    _check_against_tf(est, "linear_regressor_sum", "fare", 50)


def test_initial_logits_are_zero(tmp_path: Any) -> None:
    est = LinearClassifier(seed_columns(), model_dir=tmp_path, n_classes=3)
    features = {k: v[:5] for k, v in EVAL.items() if k != "survived"}
    logits = est.model.logits(features)
    assert logits.shape == (5, 3)
    assert torch.count_nonzero(logits) == 0


def test_default_optimizers_follow_tf() -> None:
    """'Ftrl' trains at 0.2; a falsy optimizer gives FTRL at min(0.2, 1/sqrt(n_columns))."""
    cols = [fc.numeric_column(f"x{i}") for i in range(36)]
    named = LinearModelFn(_binary(), cols)
    opt = named.optimizers()["optimizer"]
    assert (
        isinstance(opt, Ftrl)
        and opt.defaults["lr"] == 0.2
        and opt.defaults["initial_accumulator_value"] == 0.1
    )
    falsy = LinearModelFn(_binary(), cols, optimizer=None).optimizers()["optimizer"]
    assert isinstance(falsy, Ftrl) and falsy.defaults["lr"] == pytest.approx(1 / math.sqrt(36))
    sgd = LinearModelFn(_binary(), cols, optimizer="SGD").optimizers()["optimizer"]
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["lr"] == 0.2


def _binary() -> Any:
    from torchestimator.heads import BinaryClassHead

    return BinaryClassHead()


def test_categorical_weights_get_sparse_gradients() -> None:
    model = LinearModelFn(_binary(), seed_columns())
    features, labels = next(file_order_batches(TRAIN, "survived", True))
    spec = model(features, labels, mode=ModeKeys.TRAIN)
    spec.loss.backward()
    grad = model.linear_model.sparse_weights.weight.grad
    assert grad is not None and grad.is_sparse
    rows = set(grad.coalesce().indices()[0].tolist())
    assert len(rows) <= 3 + 32  # only the rows the batch touched (3 classes + at most 32 hash buckets)


def test_module_outside_the_estimator_predicts_the_same(tmp_path: Any) -> None:
    est = LinearClassifier(seed_columns(), model_dir=tmp_path)
    est.train(lambda: file_order_batches(TRAIN, "survived", True), steps=20)
    features = {k: v[:8] for k, v in EVAL.items() if k != "survived"}
    via_estimator = np.stack([p["probabilities"] for p in est.predict(lambda: features)])
    fresh = LinearModelFn(_binary(), seed_columns())
    fresh.load_state_dict(est.model.state_dict())
    with torch.no_grad():
        outside = fresh(features, mode=ModeKeys.PREDICT).predictions["probabilities"].numpy()
    np.testing.assert_allclose(outside, via_estimator, rtol=1e-6)


def test_sparse_combiner_mean_averages_multivalent_ids() -> None:
    """With 'mean', an example's logit is the mean of its ids' weights (hand computation)."""
    col = fc.categorical_column_with_identity("ids", 4)
    from torchestimator.parsing import Ragged

    model = LinearModelFn(_binary(), [col], sparse_combiner="mean")
    with torch.no_grad():
        model.linear_model.sparse_weights.weight.copy_(torch.tensor([[1.0], [2.0], [4.0], [8.0]]))
    ids = Ragged(np.array([0, 1, 3, 2], np.int64), np.array([0, 3, 4], np.int64))
    logits = model.logits({"ids": ids})
    np.testing.assert_allclose(logits.detach().numpy().reshape(-1), [(1 + 2 + 8) / 3, 4.0], rtol=1e-6)


def test_linear_estimator_takes_any_head(tmp_path: Any) -> None:
    est = LinearEstimator(MultiLabelHead(3), [fc.numeric_column("x")], model_dir=tmp_path)
    x = np.array([0.0, 1.0], np.float32)
    y = np.array([[1, 0, 1], [0, 1, 1]], np.int64)
    est.train(lambda: ({"x": x}, y), steps=3)
    pred = next(iter(est.predict(lambda: {"x": x})))
    assert pred["logits"].shape == (3,)  # the head's logits_dimension sets the linear model's width
    np.testing.assert_allclose(pred["probabilities"], 1 / (1 + np.exp(-pred["logits"])), rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_classes": 1}, "n_classes must be an int > 1"),
        ({"optimizer": "Ftlr"}, "did you mean 'Ftrl'"),
        ({"sparse_combiner": "max"}, "sparse_combiner"),
        ({"loss_reduction": "none"}, "loss_reduction"),
        ({"label_vocabulary": ["a", "b", "c"]}, "label_vocabulary"),
    ],
)
def test_bad_arguments_raise_clear_errors(tmp_path: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        LinearClassifier(seed_columns(), model_dir=tmp_path, **kwargs)


def test_empty_feature_columns_are_rejected(tmp_path: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="feature_columns must be a non-empty list"):
        LinearClassifier([], model_dir=tmp_path)
    with pytest.raises(InvalidArgumentError, match="label_dimension"):
        LinearRegressor([fc.numeric_column("x")], model_dir=tmp_path, label_dimension=0)


def test_optimizer_instance_over_other_parameters_is_rejected(tmp_path: Any) -> None:
    stray = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    est = LinearClassifier([fc.numeric_column("x")], model_dir=tmp_path, optimizer=stray)
    with pytest.raises(InvalidArgumentError, match="not this model's"):
        est.train(lambda: ({"x": np.zeros(2, np.float32)}, np.zeros(2, np.int64)), steps=1)


def test_optimizer_callable_and_class_are_used(tmp_path: Any) -> None:
    made: list[torch.optim.Optimizer] = []

    def factory(params: Any) -> torch.optim.Optimizer:
        made.append(torch.optim.SGD(params, lr=0.5))
        return made[-1]

    est = LinearClassifier([fc.numeric_column("x")], model_dir=tmp_path, optimizer=factory)
    est.train(lambda: ({"x": np.ones(2, np.float32)}, np.ones(2, np.int64)), steps=1)
    # one SGD step from zero: bias -= 0.5 * d(mean BCE)/d(bias) = 0.5 * (1 - sigmoid(0)) = 0.25
    assert len(made) == 1
    assert float(est.model.linear_model.bias.detach()) == pytest.approx(0.25)
