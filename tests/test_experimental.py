"""te.experimental (tf.estimator.experimental) and te.add_metrics."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from estimator_support import TinyRegressor, make_batches

import torchestimator as te
from torchestimator.errors import InvalidArgumentError


def _input(n=6, seed=0):
    data = make_batches(n_batches=n, seed=seed)
    return lambda: iter(data)


def _config():
    return te.RunConfig(save_summary_steps=None, log_step_count_steps=None, progress_bar=False)


class _WithPredictions(TinyRegressor):
    def forward(self, features, labels=None, mode=te.ModeKeys.TRAIN):
        spec = super().forward(features, labels, mode)
        y = self.layer(features["x"])
        return spec.replace(predictions={"y": y}) if mode == te.ModeKeys.EVAL else spec


def test_add_metrics_adds_to_eval_only(tmp_path):
    est = te.Estimator(_WithPredictions, model_dir=str(tmp_path), config=_config())
    est.train(_input(), steps=4)
    seen_args = []

    def metric_fn(labels, predictions, features, config):
        seen_args.append(config is est2.config and "x" in features)
        return {"max_abs_err": torch.stack([(predictions["y"] - labels).abs().max()])}

    est2 = te.add_metrics(est, metric_fn)
    base, extended = est.evaluate(_input(2, seed=3)), est2.evaluate(_input(2, seed=3))
    assert "max_abs_err" not in base and base["loss"] == pytest.approx(extended["loss"])
    w, b = est.model.layer.weight.detach(), est.model.layer.bias.detach()
    per_batch = [float((f["x"] @ w.T + b - y).abs().max()) for f, y in make_batches(n_batches=2, seed=3)]
    assert extended["max_abs_err"] == pytest.approx(np.mean(per_batch), rel=1e-6)  # a scalar: batch mean
    assert all(seen_args) and extended["global_step"] == 4
    assert est2.model_dir == est.model_dir and est2.model is not est.model


def test_add_metrics_streams_te_metrics(tmp_path):
    est = te.Estimator(_WithPredictions, model_dir=str(tmp_path), config=_config())
    est.train(_input(), steps=2)
    est2 = te.add_metrics(
        est,
        lambda labels, predictions: {"rmse": te.metrics.root_mean_squared_error(labels, predictions["y"])},
    )
    result = est2.evaluate(_input(3, seed=5))
    w, b = est.model.layer.weight.detach(), est.model.layer.bias.detach()
    err = torch.cat([f["x"] @ w.T + b - y for f, y in make_batches(n_batches=3, seed=5)])
    assert result["rmse"] == pytest.approx(float(err.pow(2).mean().sqrt()), rel=1e-6)


def test_add_metrics_argument_errors(tmp_path):
    est = te.Estimator(TinyRegressor, model_dir=str(tmp_path), config=_config())
    with pytest.raises(InvalidArgumentError, match="must include predictions"):
        te.add_metrics(est, lambda labels: {})
    with pytest.raises(InvalidArgumentError, match="not expected args: \\['mode'\\]"):
        te.add_metrics(est, lambda predictions, mode: {})


def test_call_logit_fn():
    def logit_fn(features, mode, params):
        return features["x"] * params["scale"] + (1.0 if mode == te.ModeKeys.TRAIN else 0.0)

    out = te.experimental.call_logit_fn(
        logit_fn, {"x": torch.ones(2)}, te.ModeKeys.TRAIN, {"scale": 3.0}, None
    )
    assert torch.equal(out, torch.full((2,), 4.0))
    with pytest.raises(InvalidArgumentError, match="logit_fn should return a Tensor"):
        te.experimental.call_logit_fn(lambda features: "nope", {}, te.ModeKeys.TRAIN, {}, None)


def test_make_stop_at_checkpoint_step_hook(tmp_path):
    chief = te.Estimator(TinyRegressor, model_dir=str(tmp_path / "chief"), config=_config())
    assert isinstance(te.experimental.make_stop_at_checkpoint_step_hook(chief, 3), te.StopAtStepHook)
    chief.train(_input(), steps=4)  # final checkpoint at step 4
    worker_view = types.SimpleNamespace(
        config=types.SimpleNamespace(is_chief=False), model_dir=chief.model_dir
    )
    hook = te.experimental.make_stop_at_checkpoint_step_hook(worker_view, 3, wait_after_file_check_secs=0)
    worker = te.Estimator(TinyRegressor, model_dir=str(tmp_path / "worker"), config=_config())
    worker.train(_input(), hooks=[hook], steps=6)
    assert worker.global_step == 3
    late = te.experimental.make_stop_at_checkpoint_step_hook(worker_view, 5, wait_after_file_check_secs=0)
    worker2 = te.Estimator(TinyRegressor, model_dir=str(tmp_path / "worker2"), config=_config())
    worker2.train(_input(), hooks=[late], steps=6)  # the chief never reached 5: runs to its own end
    assert worker2.global_step == 6


def test_experimental_names_are_the_hooks():
    from torchestimator.hooks import early_stopping

    assert te.experimental.stop_if_no_decrease_hook is early_stopping.stop_if_no_decrease_hook
    assert te.experimental.InMemoryEvaluatorHook is te.hooks.InMemoryEvaluatorHook
    fn = te.experimental.build_raw_supervised_input_receiver_fn(
        {"x": np.zeros((2, 3), np.float32)}, np.zeros((2, 1), np.float32)
    )
    assert {k: v.shape for k, v in fn().receiver_tensors.items()} == {"x": (-1, 3), "label": (-1, 1)}
    with pytest.raises(InvalidArgumentError, match="share the keys"):
        te.experimental.build_raw_supervised_input_receiver_fn({"a": np.zeros(2)}, {"a": np.zeros(2)})
