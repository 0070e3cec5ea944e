"""LinearSDCA against TF 2.15 (tests/fixtures/premade/tf215_sdca_kmeans.json, from
scripts/fixtures/gen_sdca_kmeans_fixtures.py) and against a numpy ridge-regression oracle.

TF's kernel visits examples in an unseeded random order, so the fixture holds TF's converged
weights (two TF runs agree to 1e-5); SDCA's optimum does not depend on the batch schedule, so most
tests train on the whole dataset per step, and one on TF's batches of 10 (duals kept per example id).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import torchestimator as te
from torchestimator import feature_column as fc
from torchestimator.errors import FeatureError, InvalidArgumentError
from torchestimator.hooks.base import Hook, RunContext
from torchestimator.premade._sdca_kernel import SDCABatch, adaptive_order, dual_coordinate_ascent
from torchestimator.premade._sdca_optimizer import SDCAOptimizer

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "premade" / "tf215_sdca_kmeans.json"
SDCA = json.loads(FIXTURE.read_text())["sdca"]
QUIET = dict(save_summary_steps=None, log_step_count_steps=None)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: intra-op threads only add contention
    yield
    torch.set_num_threads(threads)


def _data() -> dict[str, np.ndarray]:
    d = {k: np.asarray(v) for k, v in SDCA["data"].items()}
    d["x"] = d["x"].astype(np.float32)
    d["w"] = d["w"].astype(np.float32)
    d["y_reg"] = d["y_reg"].astype(np.float32)
    return d


def _columns() -> list[Any]:
    return [
        fc.numeric_column("x", shape=(2,)),
        fc.categorical_column_with_vocabulary_list("c", ["a", "b", "c"]),
        fc.categorical_column_with_vocabulary_list("m", ["p", "q", "r", "s"]),
    ]


def _estimator(case: dict[str, Any], model_dir: str | None = None, **config: Any) -> te.Estimator:
    opt = te.LinearSDCA(
        "example_id",
        num_loss_partitions=case["partitions"],
        symmetric_l1_regularization=case["l1"],
        symmetric_l2_regularization=case["l2"],
        adaptive=case.get("adaptive", False),
    )
    cls = te.LinearClassifier if case["kind"] == "classifier" else te.LinearRegressor
    return cls(
        _columns(),
        optimizer=opt,
        weight_column="w" if case["weighted"] else None,
        model_dir=model_dir or tempfile.mkdtemp(),
        config=te.RunConfig(tf_random_seed=7, **{**QUIET, **config}),
    )


def _features_labels(case: dict[str, Any]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    d = _data()
    label = d["y_cls"] if case["kind"] == "classifier" else d["y_reg"]
    return {k: d[k] for k in ("x", "c", "m", "w", "example_id")}, label


def _weights(est: te.Estimator) -> dict[str, np.ndarray]:
    """Our weights under TF's variable names (``linear/linear_model/<name>``)."""
    lm = est.model.linear_model
    out = {
        "bias_weights": lm.bias.detach().numpy().ravel(),
        "x/weights": lm.dense_kernel.detach().numpy().ravel(),
    }
    for col in ("c", "m"):
        start, n = lm.column_rows(col)
        out[f"{col}/weights"] = lm.sparse_weights.weight.detach().numpy()[start : start + n].ravel()
    return out


def _assert_matches_tf(est: te.Estimator, case: dict[str, Any]) -> None:
    features, label = _features_labels(case)
    ours = _weights(est)
    assert set(ours) == set(case["weights"]) - {k for k in case["weights"] if k.endswith("_unshrunk")}
    for name, value in ours.items():
        np.testing.assert_allclose(value, case["weights"][name], atol=1e-4, err_msg=name)
    metrics = est.evaluate(lambda: (features, label))
    assert set(metrics) == set(case["metrics"])
    for key, value in case["metrics"].items():
        if key != "global_step":
            assert metrics[key] == pytest.approx(value, abs=1e-4), key
    key = "logits" if case["kind"] == "classifier" else "predictions"
    logits = [float(np.ravel(p[key])[0]) for p in est.predict(lambda: features)]
    np.testing.assert_allclose(logits, case["logits"], atol=1e-4)


@pytest.mark.parametrize("name", sorted(SDCA["cases"]))
def test_matches_tf_after_tf_epochs(name: str) -> None:
    case = SDCA["cases"][name]
    est = _estimator(case, save_checkpoints_steps=None, save_checkpoints_secs=None)
    features, label = _features_labels(case)
    epochs = SDCA["steps"] * SDCA["batch_size"] // len(label)  # TF's number of epochs (200)
    est.train(lambda: (features, label), steps=epochs)  # one whole-data batch per epoch
    _assert_matches_tf(est, case)


@pytest.mark.parametrize("name", sorted(SDCA["cases"]))
def test_each_step_matches_tf_on_one_example_batches(name: str) -> None:
    """One example per batch leaves TF no visiting order to draw: every step is deterministic, so the
    update itself (Newton / closed-form dual, norms, num_loss_partitions, shrinkage, stored duals on the
    second visit) is compared step by step."""
    case = SDCA["cases"][name]
    features, label = _features_labels(case)
    order = np.concatenate([np.arange(6), np.arange(6)])
    steps: list[dict[str, np.ndarray]] = []

    class Record(Hook):
        def after_step(self, ctx: RunContext) -> None:
            steps.append(
                {k: v.copy() for k, v in _weights(ctx.estimator).items()}
            )  # not views of the weights

    est = _estimator(case, save_checkpoints_steps=None, save_checkpoints_secs=None)
    batches = [({k: v[i : i + 1] for k, v in features.items()}, label[i : i + 1]) for i in order]
    est.train(lambda: iter(batches), hooks=[Record()])
    assert len(steps) == len(case["single_example_steps"]) == 12
    for step, (ours, theirs) in enumerate(zip(steps, case["single_example_steps"])):
        for var, value in ours.items():
            np.testing.assert_allclose(value, theirs[var], atol=1e-6, err_msg=f"step {step + 1} {var}")


def test_matches_tf_on_tf_batches_with_duals_kept_per_example_id() -> None:
    case = SDCA["cases"]["classifier_l1_l2"]
    features, label = _features_labels(case)
    size = SDCA["batch_size"]

    def input_fn() -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
        for step in range(SDCA["steps"]):  # TF's batches, TF's number of steps
            start = (step * size) % len(label)
            yield {k: v[start : start + size] for k, v in features.items()}, label[start : start + size]

    est = _estimator(case, save_checkpoints_steps=None, save_checkpoints_secs=None)
    est.train(input_fn)
    _assert_matches_tf(est, case)
    opt = est.model.optimizers()["optimizer"]
    assert isinstance(opt, SDCAOptimizer) and opt.examples_seen == len(label)
    assert opt.approximate_duality_gap() == pytest.approx(0.0, abs=1e-3)  # converged: primal == dual


def test_resume_from_checkpoint_restores_duals_and_slots() -> None:
    case = SDCA["cases"]["regressor_l1_l2_weighted"]
    features, label = _features_labels(case)
    whole = _estimator(case)
    whole.train(lambda: (features, label), steps=6)
    model_dir = tempfile.mkdtemp()
    _estimator(case, model_dir).train(lambda: (features, label), steps=3)
    resumed = _estimator(case, model_dir)  # a fresh process: weights, slots, duals and RNG from disk
    resumed.train(lambda: (features, label), steps=3)
    for name, value in _weights(whole).items():
        np.testing.assert_allclose(_weights(resumed)[name], value, atol=1e-6, err_msg=name)
    names = resumed.get_variable_names()
    assert "optimizer/2/example_state" in names and "optimizer/0/unshrunk" in names
    assert resumed.get_variable_value("optimizer/2/example_state").shape == (len(label), 4)


def test_squared_loss_converges_to_the_ridge_solution() -> None:
    rng = np.random.RandomState(3)
    x = rng.normal(size=(30, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=30)
    ew = rng.uniform(0.5, 2.0, size=30)
    l2 = 3.0
    design = np.concatenate([x, np.ones((30, 1))], axis=1)  # the bias is regularised too, as in TF
    oracle = np.linalg.solve(design.T @ (ew[:, None] * design) + l2 * np.eye(4), design.T @ (ew * y))
    indptr = np.arange(0, 4 * 31, 4)
    cols = np.tile(np.arange(4), 30)
    weights, duals = np.zeros(4), np.zeros(30)
    for epoch in range(300):
        batch = SDCABatch(indptr, cols, design.reshape(-1), y, ew, duals)
        result = dual_coordinate_ascent(
            batch, weights, "squared_loss", 0.0, l2, 1, np.random.RandomState(epoch).permutation(30)
        )
        weights, duals = weights + result.delta, result.state[:, 0].astype(np.float64)
    np.testing.assert_allclose(weights, oracle, atol=1e-5)


def test_adaptive_order_follows_tf_sampler() -> None:
    """TF's rule: draw proportional to w·sqrt(|x|² + l2·smoothness)·|dual + loss'(wx)|, keep a draw of an example
    drawn c times with probability 0.1^c, stop after B rejections; unfilled visits go to example 0."""
    x = np.array([1.0, 2.0, 3.0])  # one dense feature per example
    batch = SDCABatch(
        np.arange(4), np.zeros(3, np.int64), x, np.array([1.0, 2.0, 5.0]), np.ones(3), np.zeros(3)
    )
    nominal = np.array([1.0])  # wx = x: the first two examples sit at their optimum (kappa = wx - y = 0)
    uniform = np.concatenate([np.full(6, 0.5), [0.0, 0.5, 0.5, 0.5, 0.0, 0.0]])  # picks, then keep draws
    order = adaptive_order(batch, nominal, "squared_loss", 0.0, 1.0, uniform)
    assert order.tolist() == [2, 0, 0]  # example 2 kept once, then 3 rejections (0.5 > 0.1) end the sampling
    uniform[6:] = 0.0  # every draw kept: example 2 three times
    assert adaptive_order(batch, nominal, "squared_loss", 0.0, 1.0, uniform).tolist() == [2, 2, 2]


# -- TF's requirements ----------------------------------------------------------------------------
def _sdca() -> te.LinearSDCA:
    return te.LinearSDCA("example_id", symmetric_l2_regularization=2.0)


def test_sparse_combiner_must_be_sum() -> None:
    with pytest.raises(InvalidArgumentError, match='sparse_combiner must be "sum"'):
        te.LinearClassifier(_columns(), optimizer=_sdca(), sparse_combiner="mean")
    with pytest.raises(InvalidArgumentError, match='sparse_combiner must be "sum"'):
        te.LinearRegressor(_columns(), optimizer=_sdca(), sparse_combiner="sqrtn")


def test_multi_class_and_multi_dimensional_labels_are_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="multi-class"):
        te.LinearClassifier(_columns(), n_classes=3, optimizer=_sdca())
    with pytest.raises(InvalidArgumentError, match="one-dimensional label"):
        te.LinearRegressor(_columns(), label_dimension=2, optimizer=_sdca())
    with pytest.raises(InvalidArgumentError, match="BinaryClassHead"):
        te.LinearEstimator(te.MultiLabelHead(3), _columns(), optimizer=_sdca())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"symmetric_l2_regularization": 0.0}, "should be positive"),
        ({"symmetric_l1_regularization": -1.0}, "non-negative"),
        ({"num_loss_partitions": 0}, "num_loss_partitions"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        te.LinearSDCA("example_id", **kwargs)


def test_missing_example_id_and_non_binary_labels_fail_at_train() -> None:
    case = SDCA["cases"]["classifier_l2"]
    features, label = _features_labels(case)
    est = _estimator(case, save_checkpoints_steps=None, save_checkpoints_secs=None)
    no_ids = {k: v for k, v in features.items() if k != "example_id"}
    with pytest.raises(FeatureError, match="example_id"):
        est.train(lambda: (no_ids, label), steps=1)
    est.train(lambda: (features, label), steps=1)
    assert "accuracy" in est.evaluate(lambda: (no_ids, label))  # ids are needed to train only
    assert len(list(est.predict(lambda: no_ids))) == len(label)
    reg = _estimator(SDCA["cases"]["regressor_l2"])
    assert reg.train(lambda: (features, label * 0.5), steps=1)  # any real label for squared loss
    with pytest.raises(InvalidArgumentError, match=r"labels of 0\.0 or 1\.0"):
        te.LinearClassifier(_columns(), optimizer=_sdca()).train(
            lambda: (features, np.full(len(label), 0.5, np.float32)), steps=1
        )


def test_step_without_a_staged_batch_is_an_error() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = SDCAOptimizer([param], ["bias"], "squared_loss", 0.0, 1.0)
    with pytest.raises(InvalidArgumentError, match="not a gradient optimizer"):
        opt.step()


def test_dense_only_regressor_reaches_the_ridge_solution() -> None:
    rng = np.random.RandomState(5)
    x = rng.normal(size=(24, 2)).astype(np.float32)
    y = (x @ np.array([2.0, -1.0]) + 0.5 + 0.1 * rng.normal(size=24)).astype(np.float32)
    features = {"x": x, "id": np.array([f"r{i}" for i in range(24)])}
    est = te.LinearRegressor(
        [fc.numeric_column("x", shape=(2,))],
        optimizer=te.LinearSDCA("id", symmetric_l2_regularization=4.0),
        config=te.RunConfig(
            tf_random_seed=1, save_checkpoints_steps=None, save_checkpoints_secs=None, **QUIET
        ),
    )
    est.train(lambda: (features, y), steps=150)
    design = np.concatenate([x, np.ones((24, 1))], axis=1).astype(np.float64)
    oracle = np.linalg.solve(design.T @ design + 4.0 * np.eye(3), design.T @ y)
    lm = est.model.linear_model
    ours = np.concatenate([lm.dense_kernel.detach().numpy().ravel(), lm.bias.detach().numpy()])
    np.testing.assert_allclose(ours, oracle, atol=1e-5)


def test_sparse_only_classifier_with_string_labels() -> None:
    color = np.array(["red", "blue", "red", "green", "blue", "red"])
    labels = np.array(["pos", "neg", "pos", "neg", "neg", "pos"])
    features = {"color": color, "id": np.array([f"e{i}" for i in range(6)])}
    est = te.LinearClassifier(
        [fc.categorical_column_with_vocabulary_list("color", ["red", "blue", "green"])],
        label_vocabulary=["neg", "pos"],
        optimizer=te.LinearSDCA("id", symmetric_l2_regularization=1.5),
        config=te.RunConfig(tf_random_seed=1, **QUIET),
    )
    est.train(lambda: (features, labels), steps=40)
    classes = [p["classes"][0] for p in est.predict(lambda: features)]
    assert classes == [b"pos", b"neg", b"pos", b"neg", b"neg", b"pos"]
    assert est.model.optimizers()["optimizer"].layout == ["sparse", "bias"]
