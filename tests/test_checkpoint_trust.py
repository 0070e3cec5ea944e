"""Checkpoints under attack and accident: the model_dir lock, tampered meta.json, all-corrupt model_dirs,
NaN parameters, stale temp folders, disk full, and evaluate/predict with nothing to load."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from estimator_support import TinyRegressor
from safetensors import SafetensorError

import torchestimator as te
from torchestimator import checkpoint as ck
from torchestimator.checkpoint_meta import canonical
from torchestimator.errors import CheckpointError, CheckpointNotFoundError, CorruptCheckpointError
from torchestimator.model_dir_lock import ModelDirLock
from torchestimator.nonfinite import NonFiniteParametersError
from torchestimator.parallel.strategy import SingleDeviceStrategy

HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}


def _estimator(model_dir: Path, **cfg: Any) -> te.Estimator:
    cfg.setdefault("save_checkpoints_steps", 2)
    cfg.setdefault("log_step_count_steps", None)
    cfg.setdefault("save_summary_steps", None)
    torch.manual_seed(0)
    return te.Estimator(
        TinyRegressor, model_dir=str(model_dir), config=te.RunConfig(**cfg), params={"optimizer": "adam"}
    )


@pytest.fixture
def trained(tmp_path: Path, batches: list[Any]) -> Path:
    """model_dir with checkpoints 0, 2 and 4."""
    _estimator(tmp_path).train(lambda: batches, steps=4)
    assert ck.list_checkpoints(tmp_path) == [0, 2, 4]
    return tmp_path


def _listing(model_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(model_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(model_dir.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


# ------------------------------------------------------------------------------------------------ the lock


@pytest.mark.slow
def test_second_trainer_fails_fast_naming_the_first_and_overwrites_nothing(
    tmp_path: Path, batches: Any
) -> None:
    child = subprocess.Popen(
        # 0.5 s per step: the child's 60 batches last 30 s, far longer than this test needs it
        [sys.executable, str(HERE / "kill_resume_child.py"), str(tmp_path), "400", "0.5"],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.strip() == "step 6":  # checkpoints 0 and 5 exist
                break
        second = _estimator(tmp_path)
        before = {s: _listing(tmp_path / f"model.ckpt-{s}") for s in (0, 5)}
        start = time.monotonic()
        with pytest.raises(CheckpointError) as info:
            second.train(lambda: batches, steps=3)
        assert time.monotonic() - start < 5  # fails fast, does not wait for the lock
        message = str(info.value)
        assert (
            f"pid {child.pid}" in message and socket.gethostname() in message and "training since" in message
        )
        assert second.global_step == 0  # it never restored nor trained
        assert {s: _listing(tmp_path / f"model.ckpt-{s}") for s in (0, 5)} == before
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    # the kernel released the dead trainer's lock: a new trainer resumes where it stopped
    resumed = _estimator(tmp_path)
    resumed.train(lambda: batches, steps=1)
    assert resumed.global_step > 5


def test_lock_is_released_after_train_and_after_an_error(tmp_path: Path, batches: Any) -> None:
    est = _estimator(tmp_path)
    est.train(lambda: batches, steps=2)
    with ModelDirLock(tmp_path):  # free again
        pass

    def broken() -> Any:
        raise RuntimeError("input failed")

    with pytest.raises(RuntimeError, match="input failed"):
        est.train(broken, steps=2)
    with ModelDirLock(tmp_path):
        pass


# ------------------------------------------------------------------------------------------------ meta.json


def _resign(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit meta.json's content and recompute its checksum, as an attacker who can write model_dir would."""
    meta = json.loads((path / "meta.json").read_text())
    edit(meta["content"])
    meta["sha256"] = hashlib.sha256(canonical(meta["content"])).hexdigest()
    (path / "meta.json").write_text(json.dumps(meta))


def _sibling_file(path: Path) -> None:  # a real, hash-matching file outside the folder
    other = "../model.ckpt-2/model.safetensors"
    digest = hashlib.sha256((path / other).read_bytes()).hexdigest()

    def point_outside(content: dict[str, Any]) -> None:
        content["files"][other] = digest
        del content["files"]["model.safetensors"]

    _resign(path, point_outside)


def _symlinked_device(path: Path) -> None:
    (path / "zero").symlink_to("/dev/zero")
    _resign(path, lambda c: c["files"].update({"zero": "0" * 64}))


def _meta_is_dev_zero(path: Path) -> None:
    (path / "meta.json").unlink()
    (path / "meta.json").symlink_to("/dev/zero")


def _folder_is_a_symlink(path: Path) -> None:
    elsewhere = path.parent.parent / f"{path.parent.name}-elsewhere"
    path.rename(elsewhere)
    path.symlink_to(elsewhere, target_is_directory=True)


def _deep(path: Path) -> None:
    (path / "meta.json").write_text('{"content": ' + "[" * 200_000 + "]" * 200_000 + ', "sha256": ""}')


TAMPERING: dict[str, Callable[[Path], None]] = {
    "dotdot": _sibling_file,
    "absolute": lambda p: _resign(p, lambda c: c["files"].update({"/etc/passwd": "0" * 64})),
    "dev_zero": lambda p: _resign(p, lambda c: c["files"].update({"/dev/zero": "0" * 64})),
    "symlink_to_dev_zero": _symlinked_device,
    "meta_is_dev_zero": _meta_is_dev_zero,
    "deep_nesting": _deep,
    "checkpoint_folder_is_a_symlink": _folder_is_a_symlink,
    "not_json": lambda p: (p / "meta.json").write_text("{'content': 1"),
    "missing_content": lambda p: (p / "meta.json").write_text(json.dumps({"sha256": "0" * 64})),
    "missing_global_step": lambda p: _resign(p, lambda c: c.pop("global_step")),
    "global_step_of_another_folder": lambda p: _resign(p, lambda c: c.update(global_step=2)),
    "global_step_not_int": lambda p: _resign(p, lambda c: c.update(global_step="4")),
    "files_not_a_dict": lambda p: _resign(p, lambda c: c.update(files=["model.safetensors"])),
    "optimizers_wrong_type": lambda p: _resign(p, lambda c: c.update(optimizers=[1, 2])),
    "optimizer_slot_index_not_int": lambda p: _resign(
        p, lambda c: c["optimizers"]["optimizer"]["scalars"].update({"x": {}})
    ),
    "rng_state_malformed": lambda p: _resign(p, lambda c: c["rng"]["numpy"].update(keys=[1, 2])),
    "input_state_wrong_type": lambda p: _resign(p, lambda c: c.update(input={"batches_consumed": "all"})),
    "content_is_empty": lambda p: _resign(p, lambda c: c.clear()),
    "hash_of_wrong_type": lambda p: _resign(p, lambda c: c["files"].update({"model.safetensors": 7})),
}


@pytest.mark.parametrize("tamper", sorted(TAMPERING))
def test_tampered_meta_is_corrupt_and_falls_back(trained: Path, batches: Any, tamper: str) -> None:
    newest = trained / "model.ckpt-4"
    TAMPERING[tamper](newest)
    signal.alarm(30)  # a read of /dev/zero would never end: fail instead of hanging
    try:
        with pytest.raises(CorruptCheckpointError) as info:
            ck.load_checkpoint(newest)
        assert str(newest) in str(info.value)
        est = _estimator(trained)
        assert est.latest_checkpoint() == str(trained / "model.ckpt-2")
        est.train(lambda: batches, steps=1)
    finally:
        signal.alarm(0)
    assert est.global_step == 3  # resumed from the previous checkpoint


def test_index_temp_file_never_follows_a_planted_symlink(tmp_path: Path, monkeypatch: Any) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    (model_dir / f".checkpoint.tmp-{os.getpid()}").symlink_to(victim)  # the old, predictable name
    ck.save_checkpoint(model_dir, 1, TinyRegressor().state_dict())
    assert victim.read_text() == "precious"
    assert (model_dir / "checkpoint").is_file() and not (model_dir / "checkpoint").is_symlink()
    # even a symlink planted at the exact (random) temp name is refused, not followed
    monkeypatch.setattr(ck.secrets, "token_hex", lambda n: "feed")
    (model_dir / f".checkpoint.tmp-{os.getpid()}-xfeed").symlink_to(victim)
    with pytest.raises(CheckpointError, match="File exists"):
        ck.save_checkpoint(model_dir, 2, TinyRegressor().state_dict())
    assert victim.read_text() == "precious"


# ------------------------------------------------------------------------------------------------ all corrupt


def _corrupt_all(model_dir: Path) -> None:
    for step in ck.list_checkpoints(model_dir):
        f = model_dir / f"model.ckpt-{step}" / "model.safetensors"
        data = bytearray(f.read_bytes())
        data[-3] ^= 0xFF
        f.write_bytes(bytes(data))


def test_every_checkpoint_corrupt_refuses_to_train_and_deletes_nothing(trained: Path, batches: Any) -> None:
    _corrupt_all(trained)
    before = _listing(trained)
    est = _estimator(trained, keep_checkpoint_max=1)
    with pytest.raises(CorruptCheckpointError) as info:
        est.train(lambda: batches, steps=5)
    message = str(info.value)
    for step in (0, 2, 4):
        assert f"model.ckpt-{step}: " in message
    assert "has changed since it was written" in message and "new model_dir" in message and "move" in message
    assert est.global_step == 0
    assert _listing(trained) == before  # nothing deleted, nothing written


def test_evaluate_and_predict_without_a_checkpoint_raise_unless_opted_in(
    tmp_path: Path, batches: Any
) -> None:
    est = _estimator(tmp_path / "empty")
    with pytest.raises(CheckpointNotFoundError, match="allow_untrained"):
        est.evaluate(lambda: batches)
    with pytest.raises(CheckpointNotFoundError, match="holds no checkpoint"):
        next(iter(est.predict(lambda: batches[0][0])))
    opted = _estimator(tmp_path / "empty", allow_untrained=True)
    assert opted.evaluate(lambda: batches)["global_step"] == 0
    assert len(list(opted.predict(lambda: batches[0][0]))) == 4


def test_evaluate_on_an_all_corrupt_model_dir_lists_the_checkpoints(trained: Path, batches: Any) -> None:
    _corrupt_all(trained)
    with pytest.raises(CheckpointNotFoundError, match=r"model\.ckpt-4: .*has changed since it was written"):
        _estimator(trained).evaluate(lambda: batches)


# ------------------------------------------------------------------------------------------------ NaN params


class SqrtOfZero(torch.nn.Module):
    """loss = sqrt(w²) at w = 0: the loss is 0 (finite) but its gradient is 0/0 = NaN."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.b = torch.nn.Parameter(torch.ones(1))
        self.opt = torch.optim.SGD(self.parameters(), lr=0.1)

    def forward(self, features: Any, labels: Any = None, mode: str = te.ModeKeys.TRAIN) -> te.EstimatorSpec:
        loss = torch.sqrt(self.w**2).sum() + 0 * self.b.sum()
        return te.EstimatorSpec(mode, loss=loss, train_op=self.opt)


def test_nan_parameter_with_a_finite_loss_is_never_saved(tmp_path: Path) -> None:
    est = te.Estimator(
        SqrtOfZero,
        model_dir=str(tmp_path),
        config=te.RunConfig(save_checkpoints_steps=1, log_step_count_steps=None),
    )
    with pytest.raises(te.errors.NanLossDuringTrainingError) as info:
        est.train(lambda: ({"x": torch.zeros(2, 1)}, torch.zeros(2)), steps=3)
    assert isinstance(info.value, NonFiniteParametersError)
    assert "parameter 'w'" in str(info.value) and "checkpoint 1" in str(info.value)
    assert ck.list_checkpoints(tmp_path) == [0]  # the step-0 checkpoint is the only one, and it is finite
    assert torch.isfinite(ck.load_model_state(tmp_path)["w"]).all()


# ------------------------------------------------------------------------------------------------ housekeeping


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temp_and_old_folders_of_dead_writers_are_removed(trained: Path, batches: Any) -> None:
    dead = _dead_pid()
    stale = [f".tmp-model.ckpt-6-{dead}", f".old-model.ckpt-2-{dead}"]
    for name in stale:
        (trained / name).mkdir()
        (trained / name / "model.safetensors").write_bytes(b"partial")
    (trained / f".checkpoint.tmp-{dead}").write_text("partial index")
    live = trained / f".tmp-model.ckpt-8-{os.getppid()}"  # a live writer's folder (the test runner's parent)
    live.mkdir()
    _estimator(trained).train(lambda: batches, steps=1)
    left = {p.name for p in trained.iterdir() if p.name.startswith(".")}
    assert not left & {*stale, f".checkpoint.tmp-{dead}"}
    assert live.name in left  # recent and its writer is alive: kept


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        SafetensorError("Error while serializing: IoError(Os { code: 28, kind: StorageFull })"),
    ],
    ids=["enospc", "safetensors"],
)
def test_disk_full_names_model_dir_and_the_space_needed(
    trained: Path, batches: Any, monkeypatch: Any, failure: Exception
) -> None:
    def full(*args: Any, **kwargs: Any) -> None:
        raise failure

    monkeypatch.setattr(ck, "save_file", full)
    with pytest.raises(CheckpointError) as info:
        _estimator(trained).train(lambda: batches, steps=2)
    message = str(info.value)
    assert str(trained) in message and "bytes free" in message
    needed = int(message.split("needs about ")[1].split(" bytes")[0].replace(",", ""))
    params = sum(p.numel() * 4 for p in TinyRegressor().parameters())
    assert params * 3 <= needed  # weights + Adam's two slots (+ RNG state)
    assert info.value.__cause__ is failure
    assert ck.list_checkpoints(trained) == [0, 2, 4] and not list(trained.glob(".tmp-*"))


# ------------------------------------------------------------------------------------------------ DDP saves


class RankZeroOfTwo(SingleDeviceStrategy):
    """One process posing as the chief of 2 ranks: collectives answer as a rank 1 with its own RNG state."""

    world_size = 2

    def __init__(self) -> None:
        super().__init__("cpu")
        self.agreed: list[list[bool]] = []

    def agree_all(self, flags: Any) -> list[bool]:
        self.agreed.append(list(flags))
        return list(flags)

    def gather_json(self, obj: Any) -> list[Any]:
        other = dict(obj, torch=torch.Generator().manual_seed(99).get_state().numpy().tobytes().hex())
        return [obj, other]


def test_secs_cadence_under_ddp_goes_through_the_agreement_and_saves_every_rank_rng(
    tmp_path: Path, batches: Any
) -> None:
    est = _estimator(tmp_path, save_checkpoints_steps=None, save_checkpoints_secs=1e-9)
    est._strategy = RankZeroOfTwo()
    est.train(lambda: batches, steps=3)
    agreed = est._strategy.agreed
    assert len(agreed) == 4 and all(len(flags) == 2 for flags in agreed)  # 3 steps + the end of input
    assert all(flags[1] for flags in agreed)  # the chief's clock fired before every step
    assert ck.list_checkpoints(tmp_path) == [0, 1, 2, 3]
    ranks = ck.load_checkpoint(tmp_path / "model.ckpt-3").rng["ranks"]
    assert set(ranks) == {"0", "1"} and ranks["0"]["torch"] != ranks["1"]["torch"]


def test_each_rank_restores_its_own_rng_state_and_the_chiefs_when_the_world_size_changed() -> None:
    from torchestimator.rng import restore_rng, rng_state_json

    saved = torch.get_rng_state()
    try:
        torch.manual_seed(1)
        chief = rng_state_json()
        chief_tensor = torch.get_rng_state()
        torch.manual_seed(2)
        rank1 = rng_state_json()
        rng = {
            "torch": chief_tensor,
            "numpy": chief["numpy"],
            "python": chief["python"],
            "ranks": {"0": chief, "1": rank1},
        }
        restore_rng(rng, rank=1, world_size=2)
        assert torch.get_rng_state().numpy().tobytes().hex() == rank1["torch"]
        restore_rng(rng, rank=1, world_size=3)  # resumed on another world size: every rank takes the chief's
        assert torch.equal(torch.get_rng_state(), chief_tensor)
    finally:
        torch.set_rng_state(saved)
