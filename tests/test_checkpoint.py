"""Checkpoints: safetensors + JSON layout, atomicity, corruption fallback, GC, mismatch errors."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from estimator_support import TinyRegressor
from safetensors.torch import load_file

import torchestimator as te
from torchestimator import checkpoint as ck
from torchestimator.errors import CheckpointMismatchError, CheckpointNotFoundError, CorruptCheckpointError


def _train(tmp_path, batches, steps, **cfg):
    cfg.setdefault("save_checkpoints_steps", 2)
    torch.manual_seed(0)
    est = te.Estimator(
        TinyRegressor, model_dir=str(tmp_path), config=te.RunConfig(**cfg), params={"optimizer": "adam"}
    )
    est.train(lambda: batches * 10, steps=steps)
    return est


def test_layout_is_safetensors_and_json_with_tf_index(tmp_path, batches):
    est = _train(tmp_path, batches, 4)
    path = tmp_path / "model.ckpt-4"
    assert sorted(p.name for p in path.iterdir()) == [
        "meta.json",
        "model.safetensors",
        "optimizer.safetensors",
    ]
    weights = load_file(str(path / "model.safetensors"))
    torch.testing.assert_close(weights["layer.weight"], est.model.layer.weight.detach())
    meta = json.loads((path / "meta.json").read_text())["content"]
    assert meta["global_step"] == 4 and meta["versions"]["torch"] == torch.__version__
    assert set(meta["files"]) == {"model.safetensors", "optimizer.safetensors"}
    index = (tmp_path / "checkpoint").read_text().splitlines()
    assert index[0] == 'model_checkpoint_path: "model.ckpt-4"'
    assert 'all_model_checkpoint_paths: "model.ckpt-0"' in index


def test_weights_load_into_plain_module_outside_the_estimator(tmp_path, batches):
    est = _train(tmp_path, batches, 3)
    fresh = TinyRegressor()
    fresh.load_state_dict(ck.load_model_state(str(tmp_path)))
    for (k, a), (_, b) in zip(fresh.state_dict().items(), est.model.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)


def test_optimizer_state_roundtrips(tmp_path, batches):
    est = _train(tmp_path, batches, 3)
    state = ck.load_checkpoint(str(tmp_path))
    live = est.model.optimizer.state_dict()
    for idx, s in live["state"].items():
        for key, value in s.items():
            torch.testing.assert_close(
                torch.as_tensor(state.optimizers["optimizer"]["state"][idx][key]), torch.as_tensor(value)
            )
    assert state.optimizers["optimizer"]["param_groups"][0]["lr"] == live["param_groups"][0]["lr"]


def test_keep_checkpoint_max(tmp_path, batches):
    _train(tmp_path, batches, 12, keep_checkpoint_max=3)
    assert ck.list_checkpoints(tmp_path) == [8, 10, 12]
    index = (tmp_path / "checkpoint").read_text()
    assert "model.ckpt-6" not in index and 'model_checkpoint_path: "model.ckpt-12"' in index


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete_meta"])
def test_corrupt_newest_checkpoint_falls_back_with_warning(tmp_path, batches, caplog, damage):
    _train(tmp_path, batches, 4)
    newest = tmp_path / "model.ckpt-4"
    f = newest / "model.safetensors"
    if damage == "truncate":
        f.write_bytes(f.read_bytes()[:-7])
    elif damage == "flip":
        data = bytearray(f.read_bytes())
        data[-3] ^= 0xFF
        f.write_bytes(bytes(data))
    else:
        (newest / "meta.json").unlink()
    with caplog.at_level(logging.WARNING, logger="torchestimator"):
        est = te.Estimator(TinyRegressor, model_dir=str(tmp_path), params={"optimizer": "adam"})
        assert est.latest_checkpoint() == str(tmp_path / "model.ckpt-2")
        est.train(lambda: batches, steps=1)
    assert est.global_step == 3
    assert any("corrupt" in r.message.lower() for r in caplog.records)
    with pytest.raises(CorruptCheckpointError):
        ck.load_checkpoint(str(newest))


def test_mismatched_model_names_the_tensors(tmp_path, batches):
    _train(tmp_path, batches, 2)

    class Wider(TinyRegressor):
        def __init__(self, params=None):
            super().__init__(params)
            self.layer = torch.nn.Linear(4, 1)
            self.extra = torch.nn.Linear(1, 1)

    with pytest.raises(CheckpointMismatchError) as e:
        te.Estimator(Wider, model_dir=str(tmp_path)).train(lambda: [], steps=1)
    msg = str(e.value)
    assert "extra.weight" in msg and "layer.weight: checkpoint [1, 3] vs model [1, 4]" in msg


def test_crash_during_write_leaves_previous_checkpoint(tmp_path, batches, monkeypatch):
    est = _train(tmp_path, batches, 2)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(ck, "save_file", boom)
    with pytest.raises(te.errors.CheckpointError, match="disk full") as info:
        est.train(lambda: batches, steps=2)
    assert isinstance(info.value.__cause__, OSError) and str(tmp_path) in str(info.value)
    assert ck.list_checkpoints(tmp_path) == [0, 2]
    assert not list(tmp_path.glob(".tmp-*"))
    assert ck.load_checkpoint(str(tmp_path)).global_step == 2


def test_no_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="no valid checkpoint"):
        ck.load_checkpoint(str(tmp_path))
    est = te.Estimator(TinyRegressor, model_dir=str(tmp_path))
    with pytest.raises(CheckpointNotFoundError, match="train it first"):
        est.get_variable_names()


def test_non_json_extra_state_is_refused(tmp_path):
    class Weird(torch.nn.Module):
        def get_extra_state(self):
            return object()

        def set_extra_state(self, state):
            pass

    with pytest.raises(te.errors.CheckpointError, match="JSON-serialisable"):
        ck.save_checkpoint(tmp_path, 0, Weird().state_dict())


def test_json_extra_state_roundtrips(tmp_path):
    class Cols(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(1, 1)
            self.state = {"columns": ["age", "class"]}

        def get_extra_state(self):
            return self.state

        def set_extra_state(self, state):
            self.state = state

    m = Cols()
    ck.save_checkpoint(tmp_path, 1, m.state_dict())
    m2 = Cols()
    m2.state = None
    m2.load_state_dict(ck.load_model_state(tmp_path))
    assert m2.state == {"columns": ["age", "class"]}


def test_checkpointing_disabled(tmp_path, batches):
    torch.manual_seed(0)
    est = te.Estimator(
        TinyRegressor,
        model_dir=str(tmp_path),
        config=te.RunConfig(save_checkpoints_steps=None, save_checkpoints_secs=None),
    )
    est.train(lambda: batches, steps=3)
    assert ck.list_checkpoints(tmp_path) == []
    assert est.evaluate(lambda: batches)["global_step"] == 3  # the resident model is used
