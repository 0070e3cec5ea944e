"""model_to_estimator: a plain nn.Module trained, evaluated, predicted and exported through the Estimator.

Oracles: numpy computations on the Estimator's own predictions (accuracy, cross-entropy, precision),
Keras' documented loss formulas in numpy, and the module's weights captured before training.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from image_data import make_images, preprocess

from torchestimator import checkpoint as ckpt_lib
from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.model_to_estimator import model_to_estimator
from torchestimator.run_config import RunConfig

SIZE = 16


def conv_net(frozen_stem: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, padding=1, stride=2),
        torch.nn.ReLU(),
        torch.nn.AdaptiveMaxPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 3),
    )
    if frozen_stem:
        net[0].requires_grad_(False)
        net[1].requires_grad_(False)
    return net


def _data(n: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    images, labels = make_images(n, size=SIZE, seed=seed)
    return preprocess(images, size=SIZE), labels


TRAIN_X, TRAIN_Y = _data(192, seed=1)
EVAL_X, EVAL_Y = _data(96, seed=2)


def _batches(x: torch.Tensor, y: np.ndarray, batch: int = 32, epochs: int = 1):
    def input_fn():
        for _ in range(epochs):
            for i in range(0, len(x), batch):
                yield {"image": x[i : i + batch]}, torch.as_tensor(y[i : i + batch])

    return input_fn


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One trained estimator shared by the tests that only read it (keeps the test file fast)."""
    model_dir = tmp_path_factory.mktemp("m2e")
    net = conv_net(frozen_stem=True)
    before = {k: v.detach().clone() for k, v in net.state_dict().items()}
    est = model_to_estimator(
        net,
        loss="sparse_categorical_crossentropy",
        optimizer="Adam",
        learning_rate=0.01,
        metrics=["accuracy", "precision"],
        model_dir=str(model_dir),
        config=RunConfig(save_checkpoints_steps=1000),
    )
    est.train(_batches(TRAIN_X, TRAIN_Y, epochs=6))
    return est, before, model_dir


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_trains_and_metrics_equal_numpy_on_predictions(trained):
    est, _, _ = trained
    metrics = est.evaluate(_batches(EVAL_X, EVAL_Y))
    preds = list(est.predict(_batches(EVAL_X, EVAL_Y), yield_single_examples=False))
    logits = np.concatenate([p["logits"] for p in preds]).astype(np.float64)  # (N, 3)
    class_ids = np.concatenate([p["class_ids"] for p in preds]).reshape(-1)
    assert set(preds[0]) >= {"logits", "probabilities", "class_ids", "classes", "all_class_ids"}
    accuracy = float(np.mean(class_ids == EVAL_Y))
    assert accuracy > 0.6  # chance is 1/3 on this balanced, learnable set
    assert metrics["accuracy"] == pytest.approx(accuracy, abs=1e-9)
    probs = _softmax(logits)
    cross_entropy = -np.log(probs[np.arange(len(EVAL_Y)), EVAL_Y])
    assert metrics["average_loss"] == pytest.approx(cross_entropy.mean(), rel=1e-5)
    one_hot = np.eye(3)[EVAL_Y]
    predicted = probs > 0.5
    tp, fp = np.sum(predicted & (one_hot == 1)), np.sum(predicted & (one_hot == 0))
    assert metrics["precision"] == pytest.approx(tp / (tp + fp), abs=1e-6)
    assert metrics["global_step"] == 36


def test_step0_checkpoint_is_the_module_and_frozen_params_stay(trained):
    est, before, model_dir = trained
    step0 = ckpt_lib.load_model_state(model_dir / "model.ckpt-0")
    for key, value in before.items():
        torch.testing.assert_close(step0[f"model.{key}"], value, rtol=0, atol=0, msg=key)
    after = est.model.model.state_dict()
    for key in ("0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"):
        torch.testing.assert_close(
            after[key], before[key], rtol=0, atol=0, msg=key
        )  # frozen stem and its BN stats
    assert not torch.equal(after["7.weight"], before["7.weight"])  # the trainable head did learn
    optimized = {id(p) for g in est.model.optimizer.param_groups for p in g["params"]}
    assert all(
        id(p) not in optimized for p in (*est.model.model[0].parameters(), *est.model.model[1].parameters())
    )


def test_onnx_export_predicts_like_estimator(trained, tmp_path):
    from torchestimator.export import build_raw_serving_input_receiver_fn
    from torchestimator.serving import load

    est, _, _ = trained
    export_dir = est.export_saved_model(tmp_path, build_raw_serving_input_receiver_fn({"image": EVAL_X[:2]}))
    served = load(export_dir, backend="onnxruntime")({"image": EVAL_X[:10].numpy()})
    preds = next(iter(est.predict(_batches(EVAL_X[:10], EVAL_Y[:10]), yield_single_examples=False)))
    np.testing.assert_allclose(served["probabilities"], preds["probabilities"], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(served["class_ids"].reshape(-1), preds["class_ids"].reshape(-1))


def test_binary_from_probabilities_matches_keras_formula(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 1), torch.nn.Sigmoid())
    x = torch.randn(40, 4)
    y = (x[:, 0] > 0).float()
    est = model_to_estimator(
        net, loss="binary_crossentropy", optimizer="SGD", from_logits=False, model_dir=str(tmp_path)
    )
    p = net(x).detach().numpy().reshape(-1).astype(np.float64)
    metrics = est.evaluate(lambda: [(x, y)])
    eps = 1e-7
    pc = np.clip(p, eps, 1 - eps)
    keras_bce = -(y.numpy() * np.log(pc) + (1 - y.numpy()) * np.log(1 - pc)).mean()
    assert metrics["average_loss"] == pytest.approx(keras_bce, rel=1e-5)
    assert metrics["accuracy"] == pytest.approx(np.mean((p > 0.5) == y.numpy().astype(bool)), abs=1e-9)
    pred = next(iter(est.predict(lambda: [x[:1]])))
    assert pred["logistic"][0] == pytest.approx(p[0], rel=1e-5)  # probabilities survive the logit round trip


@pytest.mark.parametrize(
    ("loss", "oracle"),
    [
        ("mse", lambda e: e**2),
        ("mae", np.abs),
        ("huber", lambda e: np.where(np.abs(e) <= 1, 0.5 * e**2, np.abs(e) - 0.5)),
    ],
)
def test_regression_losses_match_numpy(tmp_path, loss, oracle):
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    x, y = torch.randn(30, 3), 2 * torch.randn(30, 2)
    est = model_to_estimator(
        net, loss=loss, optimizer="SGD", metrics=["mse", "mae"], model_dir=str(tmp_path / loss)
    )
    err = (net(x) - y).detach().double().numpy()
    metrics = est.evaluate(lambda: [({"x": x}, y)])
    assert metrics["average_loss"] == pytest.approx(oracle(err).mean(), rel=1e-5)
    assert metrics["mean_squared_error"] == pytest.approx((err**2).mean(), rel=1e-5)
    assert metrics["mean_absolute_error"] == pytest.approx(np.abs(err).mean(), rel=1e-5)


def test_callable_loss_and_feature_key(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    x, y = torch.randn(20, 2), torch.randn(20, 1)
    est = model_to_estimator(
        net,
        loss=lambda labels, out: (out - labels).abs().pow(3),
        optimizer="SGD",
        feature_key="a",
        model_dir=str(tmp_path),
    )
    metrics = est.evaluate(lambda: [({"a": x, "b": x * 0}, y)])
    assert metrics["average_loss"] == pytest.approx(
        float((net(x) - y).detach().abs().pow(3).mean()), rel=1e-5
    )
    est.train(lambda: [({"a": x, "b": x}, y)], steps=1)
    pred = next(iter(est.predict(lambda: [{"a": x[:1], "b": x[:1]}])))
    assert pred["predictions"][0] == pytest.approx(float(est.model.model(x[:1])[0, 0]), rel=1e-6)


def test_categorical_one_hot_labels_equal_sparse_ids(tmp_path):
    x, ids = torch.randn(12, 4), torch.arange(12) % 3
    results = []
    for loss, labels in (
        ("categorical_crossentropy", torch.eye(3)[ids]),
        ("sparse_categorical_crossentropy", ids),
    ):
        torch.manual_seed(0)
        est = model_to_estimator(torch.nn.Linear(4, 3), loss=loss, model_dir=str(tmp_path / loss))
        results.append(est.evaluate(lambda labels=labels: [(x, labels)]))
    assert results[0]["average_loss"] == pytest.approx(results[1]["average_loss"], rel=1e-6)
    assert results[0]["accuracy"] == results[1]["accuracy"]


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(
        InvalidArgumentError,
        match=r"unknown loss 'sparse_categorical_crossentropi'.*did you mean.*valid names: \[",
    ):
        model_to_estimator(torch.nn.Linear(2, 3), loss="sparse_categorical_crossentropi")
    with pytest.raises(InvalidArgumentError, match="unknown metric 'acuracy'; did you mean 'accuracy'"):
        model_to_estimator(torch.nn.Linear(2, 3), metrics=["acuracy"])
    with pytest.raises(InvalidArgumentError, match="needs a classification loss"):
        model_to_estimator(torch.nn.Linear(2, 3), loss="mse", metrics=["auc"])
    frozen = torch.nn.Linear(2, 3).requires_grad_(False)
    with pytest.raises(InvalidArgumentError, match="nothing to train"):
        model_to_estimator(frozen)
    x = torch.randn(4, 2)
    est = model_to_estimator(
        torch.nn.Linear(2, 1), loss="sparse_categorical_crossentropy", model_dir=str(tmp_path / "a")
    )
    with pytest.raises(
        InvalidArgumentError, match=r"n_classes >= 2; the module returns \[4, 1\].*binary_crossentropy"
    ):
        est.evaluate(lambda: [(x, torch.zeros(4))])
    est = model_to_estimator(
        torch.nn.Linear(2, 3), loss="sparse_categorical_crossentropy", model_dir=str(tmp_path / "b")
    )
    with pytest.raises(
        InputError, match=r"labels of shape \[4, 3\] do not fit module outputs of shape \[4, 3\]"
    ):
        est.evaluate(lambda: [(x, torch.zeros(4, 3))])
    est = model_to_estimator(torch.nn.Linear(2, 2), loss="mse", model_dir=str(tmp_path / "c"))
    with pytest.raises(
        InputError, match=r"labels of shape \[4, 3\] do not fit module outputs of shape \[4, 2\]"
    ):
        est.evaluate(lambda: [(x, torch.zeros(4, 3))])
    est = model_to_estimator(torch.nn.Linear(2, 2), loss="mse", model_dir=str(tmp_path / "d"))
    with pytest.raises(Exception, match=r"several features \['a', 'b'\]; pass feature_key"):
        est.evaluate(lambda: [({"a": x, "b": x}, torch.zeros(4, 2))])
