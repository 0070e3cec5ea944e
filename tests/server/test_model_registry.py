"""Version discovery, TF Serving's latest policy, availability-preserving swaps, retirement after in-flight requests."""

from __future__ import annotations

import pytest

from torchestimator.server import ModelConfig, ModelRegistry
from torchestimator.server._status import ServingError


class _Fake:
    def __init__(self, path: str) -> None:
        self.path = path
        self.signatures = {}


def test_latest_version_hot_swap_and_in_flight_retirement(tmp_path):
    (tmp_path / "3").mkdir()
    (tmp_path / "temp-9").mkdir()
    registry = ModelRegistry([ModelConfig("m", str(tmp_path))], load=_Fake, poll_seconds=0)
    registry.start()
    held = registry.resolve("m")  # an in-flight request on version 3
    assert held.version == 3 and held.predictor.path.endswith("3")
    (tmp_path / "10").mkdir()
    registry.poll_once()
    assert registry.resolve("m").version == 10  # new requests go to the new version at once
    assert registry.status("m") == [(10, "AVAILABLE", ""), (3, "UNLOADING", "")]
    assert held.predictor is not None  # ...while the old one still serves its request
    with pytest.raises(ServingError, match=r"Specific\(m, 3\)"):
        registry.resolve("m", 3)
    registry.release(held)
    assert held.predictor is None and registry.status("m", 3) == [(3, "END", "")]


def test_failed_load_keeps_the_old_version_and_reports_the_error(tmp_path):
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()

    def load(path: str) -> _Fake:
        if path.endswith("2"):
            raise OSError("half-written export")
        return _Fake(path)

    registry = ModelRegistry([ModelConfig("m", str(tmp_path), "all")], load=load, poll_seconds=0)
    registry.start()
    assert registry.resolve("m").version == 1
    ((_, state, error),) = registry.status("m", 2)
    assert state == "END" and "half-written export" in error
    registry.configs["m"] = ModelConfig("m", str(tmp_path))  # latest only: 2 is aspired but cannot load
    registry.poll_once()
    assert registry.resolve("m").version == 1  # availability preserved


def test_no_version_and_unknown_model_are_not_found(tmp_path):
    registry = ModelRegistry([ModelConfig("m", str(tmp_path / "empty"))], load=_Fake, poll_seconds=0)
    registry.start()
    assert not registry.ready()
    with pytest.raises(ServingError, match=r"Servable not found for request: Latest\(m\)") as info:
        registry.resolve("m")
    assert info.value.code == "NOT_FOUND" and info.value.http_status == 404
    with pytest.raises(ServingError, match="Could not find any versions of model other"):
        registry.status("other")
