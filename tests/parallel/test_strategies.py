"""Strategy resolution and the single-process behaviour of DDPStrategy / XLAStrategy."""

from __future__ import annotations

import importlib.util
import json

import pytest

from torchestimator.errors import DistributedError, InvalidArgumentError
from torchestimator.parallel.ddp import DDPStrategy
from torchestimator.parallel.resolve import resolve_strategy
from torchestimator.parallel.strategy import SingleDeviceStrategy
from torchestimator.parallel.xla import XLAStrategy

_TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TF_CONFIG")


@pytest.fixture
def no_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in _TORCHRUN_ENV:
        monkeypatch.delenv(key, raising=False)


@pytest.mark.usefixtures("no_torchrun")
def test_tf_names_map_to_ddp_and_timeout_is_passed() -> None:
    for name in ("ddp", "MirroredStrategy", "MultiWorkerMirroredStrategy"):
        strategy = resolve_strategy(name, None, 42)
        assert isinstance(strategy, DDPStrategy) and strategy.timeout_secs == 42
    assert isinstance(resolve_strategy("auto"), SingleDeviceStrategy)
    # ParameterServerStrategy -> sharded embedding tables (a DDP subclass): tests/parallel/test_sharded.py
    assert isinstance(resolve_strategy("ParameterServerStrategy", None, 42), DDPStrategy)


@pytest.mark.usefixtures("no_torchrun")
def test_ddp_without_torchrun_env_explains_how_to_launch() -> None:
    with pytest.raises(DistributedError, match=r"torchrun --standalone --nproc_per_node=N") as info:
        DDPStrategy().setup()
    assert "WORLD_SIZE" in str(info.value)


@pytest.mark.usefixtures("no_torchrun")
def test_evaluator_task_gets_a_single_device_strategy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": {"chief": ["a:1"]}, "task": {"type": "evaluator", "index": 0}})
    )
    assert isinstance(resolve_strategy("ddp"), SingleDeviceStrategy)


def test_ddp_argument_validation() -> None:
    with pytest.raises(InvalidArgumentError, match="backend"):
        DDPStrategy(backend="mpich")
    with pytest.raises(InvalidArgumentError, match="timeout_secs must be > 0"):
        DDPStrategy(timeout_secs=0)


@pytest.mark.skipif(
    importlib.util.find_spec("torch_xla") is not None, reason="checks the missing-torch-xla message"
)
def test_xla_without_torch_xla_gives_install_hint() -> None:
    strategy = resolve_strategy("TPUStrategy")
    assert isinstance(strategy, XLAStrategy)  # resolving does not import torch_xla
    with pytest.raises(DistributedError, match=r"torch==2\.9\.0.*xla_check\.sh"):
        strategy.setup()
