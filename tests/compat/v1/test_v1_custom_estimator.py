"""TF's custom_estimator.py (Iris) ported with only renames: from TF's initial weights, every step's loss,
the running ``accuracy`` summary, the eval metrics and the predictions match TF 2.15 (tests/fixtures/compat_v1,
scripts/fixtures/gen_compat_v1_fixtures.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from iris_custom_estimator import my_model
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import torchestimator as te
from torchestimator.estimator import build_function_model
from torchestimator.function_model import FunctionModelFn
from torchestimator.hooks.base import Hook

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "compat_v1"
KEYS = ["SepalLength", "SepalWidth", "PetalLength", "PetalWidth"]


def _tf() -> dict:
    return json.loads((FIXTURES / "tf215_compat_v1.json").read_text())["iris"]


def _input_fn(table: dict, batch: int, batches: int | None):
    n = len(table["label"])
    cols = {k: np.asarray(table[k], np.float32) for k in KEYS}
    labels = np.asarray(table["label"], np.int64)

    def fn():
        starts = [(i * batch) % n for i in range(batches)] if batches else range(0, n, batch)
        for s in starts:
            yield {k: v[s : s + batch] for k, v in cols.items()}, labels[s : s + batch]

    return fn


class _Losses(Hook):
    def __init__(self) -> None:
        self.values: list[float] = []

    def after_step(self, ctx) -> None:
        self.values.append(float(ctx.loss))


def _estimator(model_dir: Path, warm_start_from: str | None = None) -> te.Estimator:
    columns = [te.compat.v1.feature_column.numeric_column(key=k) for k in KEYS]
    return te.compat.v1.estimator.Estimator(
        model_fn=my_model,
        model_dir=str(model_dir),
        params={"feature_columns": columns, "hidden_units": [10, 10], "n_classes": 3},
        config=te.RunConfig(save_summary_steps=1, tf_random_seed=3),
        warm_start_from=warm_start_from,
    )


def _load_tf_initial_weights(est: te.Estimator, train_fn) -> None:
    build_function_model(est.runtime, train_fn, te.ModeKeys.TRAIN)  # what train() does first
    module = est.model
    assert isinstance(module, FunctionModelFn)
    names = module.tf_variable_names()
    initial = np.load(FIXTURES / "iris_init.npz")
    assert sorted(initial.files) == sorted(names)  # TF's variable names, as TF created them
    state = {names[k]: torch.from_numpy(initial[k]) for k in initial.files}
    module.load_state_dict(state, strict=False)


def test_iris_custom_estimator_matches_tf_step_by_step(tmp_path):
    """Warm-started from TF's own step-0 checkpoint (TF variable names, read without TensorFlow)."""
    tf = _tf()
    est = _estimator(tmp_path, warm_start_from=str(FIXTURES / "iris" / "model.ckpt-0"))
    train_fn = _input_fn(tf["train"], 10, 12)
    losses = _Losses()
    est.train(train_fn, hooks=[losses], steps=12)
    np.testing.assert_allclose(losses.values, tf["losses"], rtol=0, atol=1e-5)

    acc = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    acc.Reload()
    running = {str(e.step): e.value for e in acc.Scalars("accuracy")}
    assert running.keys() == tf["accuracy_summaries"].keys()  # written at TF's steps: every step here
    for step, value in tf["accuracy_summaries"].items():
        assert running[step] == pytest.approx(value, abs=1e-6), step  # TF's running update_op value

    results = est.evaluate(_input_fn(tf["eval"], 5, None))
    for key in ("accuracy", "loss", "global_step"):
        assert results[key] == pytest.approx(tf["metrics"][key], abs=1e-5), key
    probabilities = [p["probabilities"] for p in est.predict(_input_fn(tf["eval"], 5, None))]
    np.testing.assert_allclose(np.stack(probabilities), tf["probabilities"], rtol=0, atol=1e-5)


def test_tf_variables_load_by_name(tmp_path):
    """TF's step-0 variables (npz, by TF name) map one to one onto the layers the port builds."""
    tf = _tf()
    est = _estimator(tmp_path)
    train_fn = _input_fn(tf["train"], 10, 12)
    _load_tf_initial_weights(est, train_fn)
    losses = _Losses()
    est.train(train_fn, hooks=[losses], steps=12)
    np.testing.assert_allclose(losses.values, tf["losses"], rtol=0, atol=1e-5)
