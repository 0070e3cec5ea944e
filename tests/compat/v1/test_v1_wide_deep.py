"""A custom wide & deep model_fn (functional ``linear_model`` + ``input_layer`` with an embedding, ``dense``, v1
Adagrad, ``metrics.auc``) ported by renaming: warm-started from TF's step-0 checkpoint by TF's variable names, its
losses and eval metrics match TF 2.15 (scripts/fixtures/gen_compat_v1_fixtures.py, ``wide_deep``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import torchestimator as te
from torchestimator.compat import TFBundle
from torchestimator.hooks.base import Hook

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "compat_v1"


def wide_deep_model(features, labels, mode, params):
    """The fixture generator's model_fn, with ``tf.`` -> ``te.compat.v1.`` (its recording hook left out)."""
    fc = te.compat.v1.feature_column
    c = fc.categorical_column_with_vocabulary_list("c", ["a", "b", "c"])
    wide = fc.linear_model(features, [fc.numeric_column("x"), fc.numeric_column("x2"), c])
    deep = fc.input_layer(features, [fc.numeric_column("x"), fc.embedding_column(c, 2)])
    deep = te.compat.v1.layers.dense(deep, 4, activation=te.compat.v1.nn.relu)
    logits = wide + te.compat.v1.layers.dense(deep, 1)
    y = te.compat.v1.cast(te.compat.v1.reshape(labels, [-1, 1]), te.compat.v1.float32)
    loss = te.compat.v1.losses.sigmoid_cross_entropy(y, logits)
    auc = te.compat.v1.metrics.auc(y, te.compat.v1.sigmoid(logits))
    train_op = te.compat.v1.train.AdagradOptimizer(0.1).minimize(
        loss, global_step=te.compat.v1.train.get_global_step()
    )
    return te.compat.v1.estimator.EstimatorSpec(
        mode, loss=loss, train_op=train_op, eval_metric_ops={"auc": auc}
    )


def _input_fn(table: dict, batch: int, batches: int | None):
    n = len(table["y2"])
    feats = {
        "x": np.asarray(table["x"], np.float32),
        "x2": np.asarray(table["x2"], np.float32),
        "c": np.asarray(table["c"], object),
    }
    labels = np.asarray(table["y2"], np.int64)

    def fn():
        count = batches if batches is not None else -(-n // batch)
        for i in range(count):
            idx = (
                np.arange(i * batch, i * batch + batch) % n
                if batches is not None
                else np.arange(i * batch, min(i * batch + batch, n))
            )
            yield {k: v[idx] for k, v in feats.items()}, labels[idx]

    return fn


class _Losses(Hook):
    def __init__(self) -> None:
        self.values: list[float] = []

    def after_step(self, ctx) -> None:
        self.values.append(float(ctx.loss))


def test_wide_deep_custom_model_matches_tf(tmp_path):
    record = json.loads((FIXTURES / "tf215_compat_v1.json").read_text())
    case, data = record["wide_deep"], record["v1_data"]
    start = FIXTURES / "wide_deep" / "model.ckpt-0"
    est = te.Estimator(wide_deep_model, model_dir=str(tmp_path), warm_start_from=str(start))
    losses = _Losses()
    est.train(_input_fn(data["train"], 8, 10), hooks=[losses], steps=10)
    np.testing.assert_allclose(losses.values, case["losses"], rtol=0, atol=1e-5)
    results = est.evaluate(_input_fn(data["eval"], 8, None))
    for key, value in case["metrics"].items():
        assert results[key] == pytest.approx(value, abs=1e-5), key


def test_every_tf_variable_has_a_place_in_the_port(tmp_path):
    """The TF names the port's layers answer to (warm start / import) are exactly TF's model variables."""
    from torchestimator.compat._tf_names import module_bindings
    from torchestimator.estimator import build_function_model

    record = json.loads((FIXTURES / "tf215_compat_v1.json").read_text())
    est = te.Estimator(wide_deep_model, model_dir=str(tmp_path))
    build_function_model(est.runtime, _input_fn(record["v1_data"]["train"], 8, 1), te.ModeKeys.TRAIN)
    ours = sorted(b.tf_name for b in module_bindings(est.model) or [])
    theirs = sorted(
        n
        for n in TFBundle(str(FIXTURES / "wide_deep" / "model.ckpt-0")).names()
        if n != "global_step" and not n.endswith("/Adagrad")
    )
    assert ours == theirs


def test_import_into_an_unbuilt_function_model_points_to_warm_start(tmp_path):
    from torchestimator.compat import import_tf_checkpoint
    from torchestimator.errors import InvalidArgumentError

    est = te.Estimator(wide_deep_model, model_dir=str(tmp_path))
    with pytest.raises(InvalidArgumentError, match="warm_start_from="):
        import_tf_checkpoint(str(FIXTURES / "wide_deep" / "model.ckpt-0"), est)
