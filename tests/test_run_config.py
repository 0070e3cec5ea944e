"""RunConfig defaults and the checkpoint-cadence rules of tf.estimator.RunConfig (reference §1.3)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import torchestimator as te
from torchestimator.errors import InvalidArgumentError


def test_tf_defaults():
    cfg = te.RunConfig()
    assert cfg.save_checkpoints_secs == 600 and cfg.save_checkpoints_steps is None
    assert (cfg.keep_checkpoint_max, cfg.save_summary_steps, cfg.log_step_count_steps) == (5, 100, 100)
    assert cfg.keep_checkpoint_every_n_hours == 10000 and cfg.session_creation_timeout_secs == 7200
    assert (
        cfg.tf_random_seed is None
        and cfg.is_chief
        and cfg.task_type == "worker"
        and cfg.num_worker_replicas == 1
    )


def test_steps_and_secs_rules():
    assert te.RunConfig(save_checkpoints_steps=10).save_checkpoints_secs is None
    assert te.RunConfig(save_checkpoints_secs=30).save_checkpoints_steps is None
    off = te.RunConfig(save_checkpoints_steps=None, save_checkpoints_secs=None)
    assert not off.checkpointing_enabled
    with pytest.raises(InvalidArgumentError, match="cannot both be set"):
        te.RunConfig(save_checkpoints_steps=10, save_checkpoints_secs=10)
    cfg = te.RunConfig().replace(save_checkpoints_steps=50)
    assert (cfg.save_checkpoints_steps, cfg.save_checkpoints_secs) == (50, None)
    assert cfg.replace(save_checkpoints_secs=5).save_checkpoints_steps is None
    with pytest.raises(InvalidArgumentError, match="cannot both be set"):
        cfg.replace(save_checkpoints_steps=1, save_checkpoints_secs=1)


def test_frozen_and_validated():
    cfg = te.RunConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.keep_checkpoint_max = 3  # type: ignore[misc]
    with pytest.raises(InvalidArgumentError, match=r"unknown field.*'bogus'"):
        cfg.replace(bogus=1)
    with pytest.raises(InvalidArgumentError, match="log_step_count_steps must be > 0"):
        te.RunConfig(log_step_count_steps=0)
    with pytest.raises(InvalidArgumentError, match="precision must be one of"):
        te.RunConfig(precision="fp8")
    with pytest.raises(InvalidArgumentError, match="model_dir must be a non-empty"):
        te.RunConfig(model_dir="")


def test_seed_is_applied_to_torch_numpy_python(tmp_path):
    import random

    import numpy as np
    import torch
    from estimator_support import TinyRegressor

    te.Estimator(TinyRegressor, model_dir=str(tmp_path / "a"), config=te.RunConfig(tf_random_seed=11))
    a = (torch.rand(1).item(), np.random.rand(), random.random())
    te.Estimator(TinyRegressor, model_dir=str(tmp_path / "b"), config=te.RunConfig(tf_random_seed=11))
    b = (torch.rand(1).item(), np.random.rand(), random.random())
    assert a == b


def test_tf_config_is_read_once_and_model_dir_taken_from_it(monkeypatch, tmp_path):
    import json

    cluster = {"chief": ["h0:2222"], "worker": ["h1:2222", "h2:2222"], "ps": ["h3:2222"]}
    monkeypatch.setenv(
        "TF_CONFIG",
        json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}, "model_dir": str(tmp_path)}),
    )
    cfg = te.RunConfig()
    monkeypatch.delenv("TF_CONFIG")
    assert (cfg.task_type, cfg.task_id, cfg.is_chief, cfg.num_worker_replicas, cfg.num_ps_replicas) == (
        "worker",
        1,
        False,
        3,
        1,
    )
    assert cfg.global_id_in_cluster == 2 and cfg.master == "grpc://h2:2222" and cfg.model_dir == str(tmp_path)
    monkeypatch.setenv(
        "TF_CONFIG",
        json.dumps({"cluster": cluster, "task": {"type": "chief", "index": 0}, "model_dir": "/a"}),
    )
    with pytest.raises(InvalidArgumentError, match="model_dir in TF_CONFIG"):
        te.RunConfig(model_dir="/b")


def test_device_name_is_checked_at_construction():
    with pytest.raises(InvalidArgumentError, match=r"device must be a device such as 'cpu'.*'cdua'"):
        te.RunConfig(device="cdua")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_unavailable_cuda_is_a_named_error_not_an_assertion(tmp_path):
    with pytest.raises(InvalidArgumentError, match=r"'cuda:0' but this machine has no usable CUDA device"):
        est = te.LinearClassifier(
            [te.feature_column.numeric_column("x")],
            model_dir=str(tmp_path),
            config=te.RunConfig(device="cuda:0"),
        )
        est.train(lambda: ({"x": [[1.0]]}, [1]), steps=1)
