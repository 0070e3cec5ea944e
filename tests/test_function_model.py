"""Function model_fns (torchestimator/function_model.py): built once on the first batch, named as TF names
variables, shared by every mode, checkpointed / restored / warm-started like an nn.Module model_fn, with a
clear error when a mode creates other layers or calls them in another order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torchestimator as te
from torchestimator.errors import InvalidArgumentError, ModelFnError
from torchestimator.function_model import FunctionModelFn

v1 = te.compat.v1
X = np.random.RandomState(0).rand(8, 2).astype(np.float32)
Y = (X @ np.array([[1.0], [-2.0]], np.float32) + 0.5).astype(np.float32)


def _input_fn(repeat: int = 1):
    return lambda: iter([({"x": X}, Y)] * repeat)


def regression_fn(features, labels, mode, params):
    net = v1.feature_column.input_layer(features, [te.feature_column.numeric_column("x", shape=2)])
    with v1.variable_scope("tower"):
        net = v1.layers.dense(net, 4, activation=v1.nn.relu)
        net = v1.layers.dense(net, 3)
    out = v1.layers.dense(net, 1, name="out")
    if mode == v1.estimator.ModeKeys.PREDICT:
        return v1.estimator.EstimatorSpec(mode, predictions={"y": out})
    loss = v1.losses.mean_squared_error(labels, out)
    train_op = v1.train.GradientDescentOptimizer(params.get("lr", 0.1)).minimize(
        loss, v1.train.get_global_step()
    )
    return v1.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def test_layers_named_as_tf_and_checkpoint_restored_by_a_fresh_estimator(tmp_path):
    est = te.Estimator(regression_fn, model_dir=str(tmp_path), params={"lr": 0.05})
    est.train(_input_fn(3))
    module = est.model
    assert isinstance(module, FunctionModelFn)
    assert sorted(module.tf_variable_names()) == [
        "out/bias",
        "out/kernel",
        "tower/dense/bias",
        "tower/dense/kernel",
        "tower/dense_1/bias",
        "tower/dense_1/kernel",
    ]
    assert tuple(module.state_dict()["tower/dense.kernel"].shape) == (2, 4)  # TF's (in, units) layout
    first = est.evaluate(_input_fn())
    fresh = te.Estimator(regression_fn, model_dir=str(tmp_path), params={"lr": 0.05})
    again = fresh.evaluate(_input_fn())
    assert again == first  # the fresh Estimator built its layers on the first batch, then restored them
    fresh.train(_input_fn(2))
    assert fresh.global_step == 5


def test_one_sgd_step_is_the_hand_computed_step(tmp_path):
    est = te.Estimator(regression_fn, model_dir=str(tmp_path), params={"lr": 0.05})
    est.train(_input_fn(1), steps=1)
    # replay by hand: initial weights from the first checkpoint (step 0), one SGD step on the batch
    state = te.checkpoint.load_checkpoint(str(tmp_path / "model.ckpt-0")).model
    params = {k: v.clone().requires_grad_(True) for k, v in state.items() if k.endswith(("kernel", "bias"))}
    x = torch.from_numpy(X)
    h = torch.relu(x @ params["tower/dense.kernel"] + params["tower/dense.bias"])
    h = h @ params["tower/dense_1.kernel"] + params["tower/dense_1.bias"]
    out = h @ params["out.kernel"] + params["out.bias"]
    ((out - torch.from_numpy(Y)) ** 2).mean().backward()
    after = est.model.state_dict()
    for key, p in params.items():
        torch.testing.assert_close(after[key], p.detach() - 0.05 * p.grad, rtol=0, atol=1e-6)


def test_warm_start_from_a_function_model_dir(tmp_path):
    first = te.Estimator(regression_fn, model_dir=str(tmp_path / "a"))
    first.train(_input_fn(3))
    warm = te.Estimator(regression_fn, model_dir=str(tmp_path / "b"), warm_start_from=str(tmp_path / "a"))
    preds = [p["y"] for p in warm.predict(lambda: iter([{"x": X}]))]
    expected = [p["y"] for p in first.predict(lambda: iter([{"x": X}]))]
    np.testing.assert_array_equal(np.stack(preds), np.stack(expected))


def test_a_layer_created_only_in_eval_is_refused(tmp_path):
    def fn(features, labels, mode):
        out = v1.layers.dense(features["x"], 1)
        if mode == v1.estimator.ModeKeys.EVAL:
            out = v1.layers.dense(out, 1)  # only in EVAL: TF would fail to restore it too
        loss = v1.losses.mean_squared_error(labels, out)
        return v1.estimator.EstimatorSpec(
            mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(0.1).minimize(loss)
        )

    est = te.Estimator(fn, model_dir=str(tmp_path))
    est.train(_input_fn(1))
    with pytest.raises(
        ModelFnError, match=r"in mode 'eval' the model_fn creates the layer 'dense_1'.*first call"
    ):
        est.evaluate(_input_fn())


def test_a_changed_call_order_between_modes_is_refused(tmp_path):
    def fn(features, labels, mode):
        a = v1.layers.dense(features["x"], 3 if mode == v1.estimator.ModeKeys.TRAIN else 5)
        b = v1.layers.dense(a, 1)
        loss = v1.losses.mean_squared_error(labels, b)
        return v1.estimator.EstimatorSpec(
            mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(0.1).minimize(loss)
        )

    est = te.Estimator(fn, model_dir=str(tmp_path))
    est.train(_input_fn(1))
    with pytest.raises(ModelFnError, match="order of layer calls changed between modes"):
        est.evaluate(_input_fn())


def test_variable_scope_reuse_and_duplicate_names(tmp_path):
    def fn(features, labels, mode):
        with v1.variable_scope("shared"):
            a = v1.layers.dense(features["x"], 1, name="proj")
        with v1.variable_scope("shared", reuse=True):
            b = v1.layers.dense(features["x"] * 2, 1, name="proj")  # the same variables
        loss = v1.losses.mean_squared_error(labels, a + b)
        return v1.estimator.EstimatorSpec(
            mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(0.1).minimize(loss)
        )

    est = te.Estimator(fn, model_dir=str(tmp_path))
    est.train(_input_fn(1))
    assert sorted(est.model.tf_variable_names()) == ["shared/proj/bias", "shared/proj/kernel"]

    def twice(features, labels, mode):
        v1.layers.dense(features["x"], 1, name="proj")
        out = v1.layers.dense(features["x"], 1, name="proj")
        loss = v1.losses.mean_squared_error(labels, out)
        return v1.estimator.EstimatorSpec(
            mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(0.1).minimize(loss)
        )

    with pytest.raises(ModelFnError, match="creates the layer 'proj' twice"):
        te.Estimator(twice, model_dir=str(tmp_path / "twice")).train(_input_fn(1))

    def reused(features, labels, mode):
        a = v1.layers.dense(features["x"], 1, name="proj")
        b = v1.layers.dense(features["x"] * 2, 1, name="proj", reuse=True)  # TF's reuse= on the call
        loss = v1.losses.mean_squared_error(labels, a + b)
        return v1.estimator.EstimatorSpec(
            mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(0.1).minimize(loss)
        )

    est = te.Estimator(reused, model_dir=str(tmp_path / "reused"))
    est.train(_input_fn(1))
    assert sorted(est.model.tf_variable_names()) == ["proj/bias", "proj/kernel"]


def test_get_variable_torch_module_and_global_step(tmp_path):
    seen = []

    def fn(features, labels, mode):
        w = v1.get_variable("w", shape=[2, 1], initializer=v1.zeros_initializer())
        lstm = v1.layers.module("lstm", lambda: torch.nn.LSTM(2, 3, batch_first=True))
        seq, _ = lstm(features["x"].unsqueeze(1))  # (B, 1, 3)
        out = features["x"] @ w + seq[:, -1, :1]
        seen.append(int(v1.train.get_global_step()))
        loss = v1.losses.mean_squared_error(labels, out)
        return v1.estimator.EstimatorSpec(mode, loss=loss, train_op=v1.train.AdamOptimizer().minimize(loss))

    est = te.Estimator(fn, model_dir=str(tmp_path))
    est.train(_input_fn(3))
    assert "w" in est.model.tf_variable_names() and "lstm/weight_ih_l0" in est.model.tf_variable_names()
    assert seen == [0, 0, 1, 2]  # the build call, then the global step before each of the 3 steps
    slots = [n for n in est.get_variable_names() if n.startswith("optimizer/")]
    assert slots and all(n.split("/")[-1] in ("m", "v", "step") for n in slots), (
        slots
    )  # Adam state checkpointed


def test_build_has_no_side_effects_and_batch_norm_updates_as_tf(tmp_path):
    def fn(features, labels, mode):
        h = v1.layers.batch_normalization(features["x"], training=mode == v1.estimator.ModeKeys.TRAIN)
        out = v1.layers.dense(h, 1, kernel_initializer=v1.ones_initializer())
        loss = v1.losses.mean_squared_error(labels, out)
        return v1.estimator.EstimatorSpec(
            mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(0.0).minimize(loss)
        )

    est = te.Estimator(fn, model_dir=str(tmp_path))
    est.train(_input_fn(1))
    state = est.model.state_dict()
    # one update (momentum 0.99) from zeros / ones with the batch's (biased) moments: the build made none
    np.testing.assert_allclose(state["batch_normalization.moving_mean"].numpy(), 0.01 * X.mean(0), rtol=1e-5)
    np.testing.assert_allclose(
        state["batch_normalization.moving_variance"].numpy(), 0.99 + 0.01 * X.var(0), rtol=1e-5
    )


def test_function_model_errors_name_the_problem(tmp_path):
    def no_labels(features, mode):
        return None

    with pytest.raises(InvalidArgumentError, match="does not take labels, but input_fn returns labels"):
        te.Estimator(no_labels, model_dir=str(tmp_path / "a")).train(_input_fn(1))

    def other_loss(features, labels, mode):
        out = v1.layers.dense(features["x"], 1)
        loss = v1.losses.mean_squared_error(labels, out)
        train_op = v1.train.GradientDescentOptimizer(0.1).minimize(loss * 2)
        return v1.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

    with pytest.raises(ModelFnError, match="minimize"):
        te.Estimator(other_loss, model_dir=str(tmp_path / "b")).train(_input_fn(1))
    with pytest.raises(ModelFnError, match="inside a function model_fn"):
        v1.layers.dense(torch.zeros(1, 2), 1)


def test_plain_tuple_in_eval_metric_ops_is_refused(tmp_path):
    def fn(features, labels, mode):
        out = v1.layers.dense(features["x"], 1)
        loss = v1.losses.mean_squared_error(labels, out)
        ops = {"mine": (loss, loss)}
        return v1.estimator.EstimatorSpec(
            mode,
            loss=loss,
            eval_metric_ops=ops,
            train_op=v1.train.GradientDescentOptimizer(0.1).minimize(loss),
        )

    est = te.Estimator(fn, model_dir=str(tmp_path))
    est.train(_input_fn(1))
    with pytest.raises(InvalidArgumentError, match=r"eval_metric_ops\['mine'\] is a plain tuple"):
        est.evaluate(_input_fn())


def test_running_metric_restarts_with_each_evaluate(tmp_path):
    updates = []

    def fn(features, labels, mode):
        out = v1.layers.dense(features["x"], 1)
        loss = v1.losses.mean_squared_error(labels, out)
        mae = v1.metrics.mean_absolute_error(labels, out)
        if mode == v1.estimator.ModeKeys.EVAL:
            updates.append(float(mae[1]))
        return v1.estimator.EstimatorSpec(
            mode,
            loss=loss,
            eval_metric_ops={"mae": mae},
            train_op=v1.train.GradientDescentOptimizer(0.1).minimize(loss),
        )

    est = te.Estimator(fn, model_dir=str(tmp_path))
    est.train(_input_fn(1))
    halves = lambda: iter([({"x": X[:4]}, Y[:4]), ({"x": X[4:]}, Y[4:])])  # noqa: E731
    first = est.evaluate(halves)["mae"]
    second = est.evaluate(halves)["mae"]
    assert first == pytest.approx(second)
    assert updates[1] == pytest.approx(first) and updates[3] == pytest.approx(
        first
    )  # running over both batches
    assert updates[2] == pytest.approx(updates[0])  # restarted: the first batch alone again
    assert updates[0] != pytest.approx(first)


def test_decayed_learning_rate_is_read_every_step(tmp_path):
    def fn(features, labels, mode):
        w = v1.get_variable("w", initializer=torch.zeros(()))
        loss = w * 1.0 + 0 * features["x"].sum()  # d loss / d w = 1: each step moves w by -lr
        lr = v1.train.exponential_decay(0.1, v1.train.get_global_step(), decay_steps=2, decay_rate=0.5)
        train_op = v1.train.GradientDescentOptimizer(lr).minimize(loss)
        return v1.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

    est = te.Estimator(fn, model_dir=str(tmp_path))
    est.train(lambda: iter([({"x": X}, None)] * 4))
    expected = -sum(0.1 * 0.5 ** (k / 2) for k in range(4))  # global steps 0..3 before each update
    assert float(est.model.state_dict()["w.value"]) == pytest.approx(expected, abs=1e-6)


def test_export_of_a_function_model_serves_its_predictions(tmp_path):
    from torchestimator import serving
    from torchestimator.heads.export_output import PredictOutput

    def fn(features, labels, mode):
        net = v1.feature_column.input_layer(features, [te.feature_column.numeric_column("x", shape=2)])
        out = v1.layers.dense(net, 1)
        if mode == v1.estimator.ModeKeys.PREDICT:
            return v1.estimator.EstimatorSpec(
                mode, predictions={"y": out}, export_outputs={"serving_default": PredictOutput({"y": out})}
            )
        loss = v1.losses.mean_squared_error(labels, out)
        return v1.estimator.EstimatorSpec(
            mode, loss=loss, train_op=v1.train.AdamOptimizer(0.1).minimize(loss)
        )

    receiver = te.export.build_raw_serving_input_receiver_fn({"x": torch.zeros(1, 2)})
    with pytest.raises(ModelFnError, match="has not been built yet"):
        te.Estimator(fn, model_dir=str(tmp_path / "fresh")).export_saved_model(str(tmp_path / "e0"), receiver)
    est = te.Estimator(fn, model_dir=str(tmp_path / "m"))
    est.train(_input_fn(3))
    path = est.export_saved_model(str(tmp_path / "export"), receiver)
    served = serving.load(path, backend="torch")({"x": X}, signature="serving_default")
    expected = np.stack([p["y"] for p in est.predict(lambda: iter([{"x": X}]))])
    np.testing.assert_allclose(np.asarray(served["y"]), expected, rtol=0, atol=1e-6)


def test_resumed_training_equals_uninterrupted(tmp_path):
    """Adagrad accumulators of the optimizer minimize() builds are checkpointed and restored by a fresh Estimator."""

    def fn(features, labels, mode):
        out = v1.layers.dense(v1.layers.dense(features["x"], 3, activation=v1.nn.tanh), 1)
        loss = v1.losses.mean_squared_error(labels, out)
        return v1.estimator.EstimatorSpec(
            mode, loss=loss, train_op=v1.train.AdagradOptimizer(0.3).minimize(loss)
        )

    cfg = te.RunConfig(tf_random_seed=5)
    whole = te.Estimator(fn, model_dir=str(tmp_path / "whole"), config=cfg)
    whole.train(_input_fn(4))
    te.Estimator(fn, model_dir=str(tmp_path / "split"), config=cfg).train(_input_fn(2))
    resumed = te.Estimator(fn, model_dir=str(tmp_path / "split"), config=cfg)
    resumed.train(_input_fn(2))
    assert resumed.global_step == 4
    for key, value in whole.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0, msg=key)


def test_summaries_in_a_function_model_are_written_at_summary_steps(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def fn(features, labels, mode):
        out = v1.layers.dense(features["x"], 1)
        v1.summary.histogram("outputs", out)
        loss = v1.losses.mean_squared_error(labels, out)
        v1.summary.scalar("my_loss", loss)
        return v1.estimator.EstimatorSpec(
            mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(0.1).minimize(loss)
        )

    losses: list[float] = []

    class Record(te.hooks.Hook):
        def after_step(self, ctx):
            losses.append(float(ctx.loss))

    est = te.Estimator(fn, model_dir=str(tmp_path), config=te.RunConfig(save_summary_steps=3))
    est.train(_input_fn(7), hooks=[Record()])
    acc = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    scalars = {e.step: e.value for e in acc.Scalars("my_loss")}
    assert sorted(scalars) == [1, 4, 7]  # TF's steps: the first, then every save_summary_steps
    for step, value in scalars.items():
        assert value == pytest.approx(losses[step - 1], rel=1e-6)
    assert "outputs" in acc.Tags()["histograms"] or "outputs" in acc.Tags()["tensors"]


def test_a_shared_one_shot_iterator_loses_no_batch_to_the_build(tmp_path):
    seen: list[float] = []

    def fn(features, labels, mode):
        out = v1.layers.dense(features["x"], 1)
        loss = v1.losses.mean_squared_error(labels, out)
        if mode == v1.estimator.ModeKeys.TRAIN:
            seen.append(float(features["x"][0, 0]))
        return v1.estimator.EstimatorSpec(
            mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(0.1).minimize(loss)
        )

    batches = iter([({"x": X + i}, Y) for i in range(3)])
    est = te.Estimator(fn, model_dir=str(tmp_path))
    est.train(lambda: batches)  # the same iterator object on every call, as some ports write it
    assert est.global_step == 3
    assert seen == pytest.approx(
        [X[0, 0], X[0, 0], X[0, 0] + 1, X[0, 0] + 2]
    )  # the build, then all 3 batches


def test_layer_objects_name_and_share_like_the_functions(tmp_path):
    def fn(features, labels, mode):
        hidden = v1.layers.Dense(4, activation=v1.nn.relu)
        out = v1.layers.Dense(1)(v1.layers.Dropout(0.5)(hidden(features["x"]), training=False))
        loss = v1.losses.mean_squared_error(labels, out)
        return v1.estimator.EstimatorSpec(
            mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(0.1).minimize(loss)
        )

    est = te.Estimator(fn, model_dir=str(tmp_path))
    est.train(_input_fn(2))
    assert sorted(est.model.tf_variable_names()) == [
        "dense/bias",
        "dense/kernel",
        "dense_1/bias",
        "dense_1/kernel",
    ]
