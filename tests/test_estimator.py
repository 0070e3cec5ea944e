"""Estimator.train / evaluate / predict semantics (tf.estimator's, reference §1.1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from estimator_support import TinyRegressor

import torchestimator as te
from torchestimator.errors import InputError, InvalidArgumentError


def _est(tmp_path, params=None, **cfg):
    cfg.setdefault("save_checkpoints_steps", 5)
    torch.manual_seed(0)
    return te.Estimator(TinyRegressor, model_dir=str(tmp_path), config=te.RunConfig(**cfg), params=params)


def test_steps_are_incremental_and_max_steps_absolute(tmp_path, batches):
    est = _est(tmp_path)
    est.train(lambda: batches * 10, steps=10)
    est.train(lambda: batches * 10, steps=10)
    assert est.global_step == 20
    assert int(est.get_variable_value("global_step")) == 20
    before = est.get_variable_value("layer.weight").copy()
    est.train(lambda: batches * 10, max_steps=15)  # below the current step: trains nothing
    assert est.global_step == 20
    np.testing.assert_array_equal(est.get_variable_value("layer.weight"), before)
    est.train(lambda: batches * 10, max_steps=23)
    assert est.global_step == 23


def test_fresh_estimator_resumes_from_model_dir(tmp_path, batches):
    est = _est(tmp_path, params={"optimizer": "adam"})
    est.train(lambda: batches, steps=7)
    w = est.model.layer.weight.detach().clone()
    est2 = te.Estimator(TinyRegressor, model_dir=str(tmp_path), params={"optimizer": "adam"})
    assert est2.evaluate(lambda: batches)["global_step"] == 7
    torch.testing.assert_close(est2.model.layer.weight, w, rtol=0, atol=0)
    est2.train(lambda: batches, steps=3)
    assert est2.global_step == 10


def test_training_matches_hand_written_loop(tmp_path, batches):
    """Oracle: the same module, batches and SGD steps written by hand."""
    torch.manual_seed(0)
    ref = TinyRegressor()
    torch.manual_seed(0)
    est = te.Estimator(TinyRegressor, model_dir=str(tmp_path))
    est.train(lambda: batches, steps=len(batches))
    for features, labels in batches:
        ref.optimizer.zero_grad()
        loss = torch.mean((ref.layer(features["x"]) - labels) ** 2)
        loss.backward()
        ref.optimizer.step()
    torch.testing.assert_close(est.model.layer.weight, ref.layer.weight, rtol=0, atol=0)
    torch.testing.assert_close(est.model.layer.bias, ref.layer.bias, rtol=0, atol=0)


def test_end_of_input_ends_training(tmp_path, batches):
    est = _est(tmp_path)
    est.train(lambda: batches)  # no steps: one pass over 8 batches
    assert est.global_step == len(batches)


def test_evaluate_returns_mean_batch_loss_metrics_and_global_step(tmp_path, batches):
    est = _est(tmp_path)
    est.train(lambda: batches, steps=3)
    res = est.evaluate(lambda: batches)
    with torch.no_grad():
        losses = [torch.mean((est.model.layer(f["x"]) - y) ** 2).item() for f, y in batches]
        maes = [(est.model.layer(f["x"]) - y).abs().mean().item() for f, y in batches]
    assert res["global_step"] == 3
    assert res["loss"] == pytest.approx(np.mean(losses), rel=1e-6)
    assert res["mae"] == pytest.approx(np.mean(maes), rel=1e-6)
    assert est.evaluate(lambda: batches, steps=2)["loss"] == pytest.approx(np.mean(losses[:2]), rel=1e-6)
    assert est.eval_dir() == str(tmp_path / "eval") and est.eval_dir("x") == str(tmp_path / "eval_x")


def test_predict_single_examples_keys_and_batches(tmp_path, batches):
    est = _est(tmp_path)
    est.train(lambda: batches, steps=2)
    preds = list(est.predict(lambda: [f for f, _ in batches[:2]]))
    assert len(preds) == 8 and set(preds[0]) == {"y", "x"}
    with torch.no_grad():
        expected = est.model.layer(batches[0][0]["x"]).numpy()
    np.testing.assert_allclose(preds[1]["y"], expected[1], rtol=1e-6)
    only_y = next(est.predict(lambda: batches[:1], predict_keys=["y"]))
    assert set(only_y) == {"y"}
    whole = next(est.predict(lambda: batches[:1], yield_single_examples=False))
    assert whole["y"].shape == (4, 1)
    with pytest.raises(InvalidArgumentError, match=r"predict_keys.*'z'.*available"):
        next(est.predict(lambda: batches[:1], predict_keys=["z"]))


def test_model_stays_resident_across_calls(tmp_path, batches, monkeypatch):
    est = _est(tmp_path)
    est.train(lambda: batches, steps=2)
    module = est.model
    calls = []
    import torchestimator.checkpoint as ck

    monkeypatch.setattr(
        ck, "load_checkpoint", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(AssertionError)
    )
    est.evaluate(lambda: batches)
    list(est.predict(lambda: batches[:1]))
    est.evaluate(lambda: batches)
    assert est.model is module and calls == []


def test_input_fn_arguments_by_name_and_data_loader(tmp_path, batches):
    seen = {}

    def input_fn(mode, params, config, input_context):
        seen.update(mode=mode, params=params, config=config, ctx=input_context)
        return batches

    est = te.Estimator(TinyRegressor, model_dir=str(tmp_path), params={"lr": 0.01})
    est.train(input_fn, steps=1)
    assert seen["mode"] == "train" and seen["params"] == {"lr": 0.01}
    assert seen["config"].model_dir == str(tmp_path) and seen["ctx"].num_input_pipelines == 1
    ds = torch.utils.data.TensorDataset(torch.randn(20, 3), torch.randn(20, 1))
    loader = torch.utils.data.DataLoader(ds, batch_size=5)
    est.train(lambda: (({"x": x}, y) for x, y in loader))
    assert est.global_step == 5


def test_numpy_features_and_generator(tmp_path):
    rng = np.random.default_rng(0)

    def gen():
        for _ in range(3):
            x = rng.standard_normal((4, 3)).astype(np.float32)
            yield {"x": x}, x.sum(1, keepdims=True)

    est = _est(tmp_path)
    est.train(gen)
    assert est.global_step == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": 1, "max_steps": 2}, "both steps and max_steps"),
        ({"steps": -1}, "steps > 0"),
        ({"max_steps": 0}, "max_steps > 0"),
    ],
)
def test_bad_step_arguments(tmp_path, batches, kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        _est(tmp_path).train(lambda: batches, **kwargs)


def test_input_fn_returning_non_batches(tmp_path):
    est = _est(tmp_path)
    with pytest.raises(InputError, match="received int"):
        est.train(lambda: 3, steps=1)
    with pytest.raises(InputError, match="yielded str as batch 0"):
        est.train(lambda: ["nope"], steps=1)


def test_model_dir_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InvalidArgumentError, match="exists and is a file"):
        te.Estimator(TinyRegressor, model_dir=str(f))
    with pytest.raises(InvalidArgumentError, match="different values"):
        te.Estimator(
            TinyRegressor, model_dir=str(tmp_path / "a"), config=te.RunConfig(model_dir=str(tmp_path / "b"))
        )


def test_model_fn_errors(tmp_path, batches):
    class NoLoss(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, features, labels=None, mode="train"):
            return te.EstimatorSpec(mode, predictions={"p": self.w})

    with pytest.raises(InvalidArgumentError, match="`loss` in mode 'train'"):
        te.Estimator(NoLoss, model_dir=str(tmp_path / "a")).train(lambda: batches, steps=1)

    class NoLabels(torch.nn.Module):
        def forward(self, features):
            raise AssertionError("not reached")

    with pytest.raises(InvalidArgumentError, match="no `labels` argument"):
        te.Estimator(NoLabels, model_dir=str(tmp_path / "b")).train(lambda: batches, steps=1)

    with pytest.raises(InvalidArgumentError, match=r"must build an nn.Module"):
        te.Estimator(lambda params: 3, model_dir=str(tmp_path / "c"))


def test_random_seed_makes_runs_reproducible(tmp_path, batches):
    def run(d):
        est = te.Estimator(
            TinyRegressor, model_dir=str(d), config=te.RunConfig(tf_random_seed=7), params={"dropout": 0.5}
        )
        est.train(lambda: batches, steps=8)
        return est.model.layer.weight.detach().clone()

    torch.testing.assert_close(run(tmp_path / "a"), run(tmp_path / "b"), rtol=0, atol=0)


def test_callable_train_op_has_full_control(tmp_path, batches):
    class Manual(TinyRegressor):
        def forward(self, features, labels=None, mode="train"):
            spec = super().forward(features, labels, mode)
            if mode != "train":
                return spec

            def train_op(loss):
                self.optimizer.zero_grad()
                (loss * 0).backward()  # a no-op update: the loop must not step on its own
                self.optimizer.step()

            return spec.replace(train_op=train_op)

    torch.manual_seed(0)
    est = te.Estimator(Manual, model_dir=str(tmp_path))
    w0 = est.model.layer.weight.detach().clone()
    est.train(lambda: batches, steps=3)
    torch.testing.assert_close(est.model.layer.weight, w0)
    assert est.global_step == 3
