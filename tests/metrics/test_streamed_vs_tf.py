"""te.metrics functions / objects and torchmetrics metrics in eval_metric_ops stream to TF 2.15's values.

Fixture: scripts/fixtures/gen_issue14_fixtures.py (tf.compat.v1.metrics through tf.estimator's evaluate, 4 batches).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import torchestimator as te

torchmetrics = pytest.importorskip("torchmetrics")  # in the `test` extra

FIX = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "hooks_compat" / "tf_streamed_metrics.json").read_text()
)
DATA = {k: np.asarray(v, np.float32) for k, v in FIX["data"].items()}
TF = FIX["tf_evaluate"]


def input_fn():
    n, b = len(DATA["labels"]), FIX["batch_size"]
    for start in range(0, n, b):
        f = {k: torch.from_numpy(v[start : start + b]) for k, v in DATA.items()}
        yield f, f["labels"]


class MetricModel(torch.nn.Module):
    def __init__(self, fresh_torchmetrics_per_batch: bool = False):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.fresh = fresh_torchmetrics_per_batch
        self.tm_mse = torchmetrics.MeanSquaredError()
        self.tm_rmse = torchmetrics.MeanSquaredError(squared=False)
        self.tm_mae = torchmetrics.MeanAbsoluteError()
        self.tm_acc = torchmetrics.classification.BinaryAccuracy()

    def forward(self, features, labels, mode):
        f = features
        loss = (self.w * f["preds"]).mean()
        classes = (f["probs"] > 0.5).float()
        if self.fresh:
            tm = {
                "tm_mse": torchmetrics.MeanSquaredError(),
                "tm_rmse": torchmetrics.MeanSquaredError(squared=False),
                "tm_mae": torchmetrics.MeanAbsoluteError(),
                "tm_acc": torchmetrics.classification.BinaryAccuracy(),
            }
        else:
            tm = {
                "tm_mse": self.tm_mse,
                "tm_rmse": self.tm_rmse,
                "tm_mae": self.tm_mae,
                "tm_acc": self.tm_acc,
            }
        for name, metric in tm.items():
            metric.update(
                classes if name == "tm_acc" else f["preds"], labels if name == "tm_acc" else f["targets"]
            )
        m = te.metrics
        ops = {
            "mse": m.mean_squared_error(f["targets"], f["preds"]),
            "rmse": m.root_mean_squared_error(f["targets"], f["preds"]),
            "mae": m.mean_absolute_error(f["targets"], f["preds"]),
            "mse_weighted": m.MeanSquaredError(f["targets"], f["preds"], f["weights"]),
            "rmse_weighted": m.RootMeanSquaredError(f["targets"], f["preds"], f["weights"]),
            "mae_weighted": m.MeanAbsoluteError(f["targets"], f["preds"], f["weights"]),
            "auc": m.auc(labels, f["probs"]),
            "auc_weighted": m.auc(labels, f["probs"], weights=f["weights"]),
            "accuracy": m.accuracy(labels, classes),
            "precision": m.precision(labels, classes),
            "recall": m.recall(labels, classes),
            "mean_preds": m.mean(f["preds"]),
            **tm,
        }
        return te.EstimatorSpec(mode, loss=loss, eval_metric_ops=ops)


def _evaluate(tmp_path, **kw):
    est = te.Estimator(
        MetricModel(**kw),
        model_dir=str(tmp_path),
        config=te.RunConfig(progress_bar=False, allow_untrained=True),
    )
    return est, est.evaluate(input_fn)


@pytest.mark.parametrize("fresh", [False, True], ids=["one_object", "object_per_batch"])
def test_streamed_values_match_tf(tmp_path, fresh):
    _, results = _evaluate(tmp_path, fresh_torchmetrics_per_batch=fresh)
    for key in [
        "mse",
        "rmse",
        "mae",
        "mse_weighted",
        "rmse_weighted",
        "mae_weighted",
        "accuracy",
        "precision",
    ]:
        assert results[key] == pytest.approx(TF[key], abs=1e-6), key
    for key in ["recall", "mean_preds", "auc", "auc_weighted"]:
        assert results[key] == pytest.approx(TF[key], abs=1e-5), key
    # torchmetrics objects stream the whole eval set, not a mean of per-batch values
    assert results["tm_mse"] == pytest.approx(TF["mse"], abs=1e-6)
    assert results["tm_rmse"] == pytest.approx(TF["rmse"], abs=1e-6)
    assert results["tm_rmse"] == pytest.approx(TF["keras_rmse"], abs=1e-6)
    assert results["tm_mae"] == pytest.approx(TF["mae"], abs=1e-6)
    assert results["tm_acc"] == pytest.approx(TF["accuracy"], abs=1e-6)


def test_rmse_is_not_a_mean_of_batch_roots(tmp_path):
    """An independent numpy oracle: the streamed RMSE differs from the per-batch-averaged one."""
    _, results = _evaluate(tmp_path)
    err = DATA["preds"] - DATA["targets"]
    assert results["rmse"] == pytest.approx(float(np.sqrt(np.mean(err**2))), rel=1e-6)
    per_batch = np.mean([np.sqrt(np.mean(e**2)) for e in err.reshape(4, -1)])
    assert abs(results["rmse"] - per_batch) > 1e-4


def test_torchmetrics_reset_between_evaluations(tmp_path):
    est, first = _evaluate(tmp_path)
    est.model.tm_mse.update(torch.ones(3), torch.zeros(3))  # stray state (e.g. a TRAIN-mode update)
    second = est.evaluate(input_fn)
    assert second["tm_mse"] == pytest.approx(first["tm_mse"], rel=1e-7)


def test_te_metrics_auc_is_function_and_module():
    from torchestimator.metrics.auc import AUC

    value = te.metrics.auc(torch.tensor([0, 0, 1, 1]), torch.tensor([0.1, 0.4, 0.35, 0.8]))
    assert isinstance(value, AUC) and value.result() == pytest.approx(0.75)
    assert te.metrics.auc.AUC is AUC


@pytest.mark.slow
def test_two_processes_reduce_to_tf_values(tmp_path, monkeypatch):
    """te.metrics states are all-reduced by the loop; torchmetrics reduces its own states in compute()."""
    import os

    from torchestimator.parallel.launch import run_local

    here, root = str(Path(__file__).parent), str(Path(__file__).parents[2])  # this checkout's package
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([root, here, os.environ.get("PYTHONPATH", "")]))
    import tm_ddp_worker

    results = run_local(tm_ddp_worker.evaluate_shard, nproc=2, args=(str(tmp_path),))
    for rank in (0, 1):
        r = results[rank]
        assert r["rmse"] == pytest.approx(TF["rmse"], abs=1e-6)
        assert r["auc"] == pytest.approx(TF["auc"], abs=1e-5)
        assert r["tm_rmse"] == pytest.approx(TF["rmse"], abs=1e-6)
        assert r["tm_acc"] == pytest.approx(TF["accuracy"], abs=1e-6)


class KerasStyleModel(torch.nn.Module):
    """TF 2's pattern: metric objects built once, updated in the model_fn, returned in eval_metric_ops."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.rmse = te.metrics.RootMeanSquaredError()
        self.mae = te.metrics.MeanAbsoluteError()

    def forward(self, features, labels, mode):
        f = features
        self.rmse.update_state(f["targets"], f["preds"])
        self.mae.update_state(f["targets"], f["preds"], sample_weight=f["weights"])
        ops = {"rmse": self.rmse, "mae_weighted": self.mae}
        return te.EstimatorSpec(mode, loss=(self.w * f["preds"]).mean(), eval_metric_ops=ops)


def test_keras_style_te_metrics_match_tf_and_reset(tmp_path):
    est = te.Estimator(
        KerasStyleModel(),
        model_dir=str(tmp_path),
        config=te.RunConfig(progress_bar=False, allow_untrained=True),
    )
    first = est.evaluate(input_fn)
    assert first["rmse"] == pytest.approx(TF["keras_rmse"], abs=1e-6)
    assert first["mae_weighted"] == pytest.approx(TF["mae_weighted"], abs=1e-6)
    second = est.evaluate(input_fn)  # reset at the start of each evaluation
    assert second["rmse"] == pytest.approx(first["rmse"], rel=1e-12)
    with pytest.raises(te.errors.InvalidArgumentError, match="needs both labels and predictions"):
        te.metrics.MeanSquaredError(torch.zeros(2))
