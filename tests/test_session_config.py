"""RunConfig(session_config=...): TF's ConfigProto fields mapped to torch, or refused naming the field."""

from __future__ import annotations

import logging
import types

import pytest
import torch

import torchestimator as te
from torchestimator.errors import InvalidArgumentError
from torchestimator.session_config import parse_session_config


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_gpu_count_zero_forces_cpu_and_threads_apply(tmp_path, restore_threads):
    config = te.RunConfig(session_config={"device_count": {"GPU": 0}, "intra_op_parallelism_threads": 1})
    assert config.device == "cpu"
    est = te.Estimator(torch.nn.Linear(1, 1), model_dir=str(tmp_path), config=config)
    assert torch.get_num_threads() == 1
    assert str(est._strategy.device) == "cpu"


def test_config_proto_lookalike_object(restore_threads):
    gpu_options = types.SimpleNamespace(allow_growth=True)
    proto = types.SimpleNamespace(
        device_count={"GPU": 0, "CPU": 1},
        allow_soft_placement=True,
        log_device_placement=False,
        gpu_options=gpu_options,
        intra_op_parallelism_threads=2,
        inter_op_parallelism_threads=0,
    )
    settings = parse_session_config(proto)
    assert settings.cpu_only and settings.intra_op_threads == 2 and settings.inter_op_threads is None
    assert te.RunConfig(session_config=proto).device == "cpu"


def test_protobuf_style_only_set_fields_are_read():
    class Field:
        def __init__(self, name):
            self.name = name

    class Proto:  # what a protobuf message offers: ListFields() of the set fields
        use_per_session_threads = False  # unset fields read as defaults and must be ignored

        def ListFields(self):  # protobuf's name
            return [(Field("inter_op_parallelism_threads"), 3)]

    assert parse_session_config(Proto()).inter_op_threads == 3


def test_unsupported_fields_are_refused_by_name():
    with pytest.raises(InvalidArgumentError, match="use_per_session_threads"):
        te.RunConfig(session_config={"use_per_session_threads": True})
    with pytest.raises(InvalidArgumentError, match="visible_device_list"):
        te.RunConfig(session_config={"gpu_options": {"visible_device_list": "1"}})
    with pytest.raises(InvalidArgumentError, match="intra_op_parallelism_threads"):
        te.RunConfig(session_config={"intra_op_parallelism_threads": -1})
    with pytest.raises(InvalidArgumentError, match=r"RunConfig\.device='cuda'"):
        te.RunConfig(session_config={"device_count": {"GPU": 0}}, device="cuda")


def test_inter_op_threads_after_parallel_work_is_warned(tmp_path, caplog):
    torch.ones(1000) @ torch.ones(1000)  # parallel work has started: torch refuses a change now
    wanted = torch.get_num_interop_threads() + 1
    with caplog.at_level(logging.WARNING, logger="torchestimator"):
        te.Estimator(
            torch.nn.Linear(1, 1),
            model_dir=str(tmp_path),
            config=te.RunConfig(session_config={"inter_op_parallelism_threads": wanted}),
        )
    assert torch.get_num_interop_threads() == wanted or any(
        "inter_op_parallelism_threads" in r.getMessage() for r in caplog.records
    )
