"""Under DDP, torchestimator's log records carry the rank; nobody else's records change."""

from __future__ import annotations

import logging

import pytest

from torchestimator.parallel.rank_logging import install_rank_prefix, uninstall_rank_prefix


@pytest.fixture(autouse=True)
def _clean():
    yield
    uninstall_rank_prefix()


def test_prefix_only_on_torchestimator_records(caplog):
    install_rank_prefix(1, 2)
    with caplog.at_level(logging.INFO):
        logging.getLogger("torchestimator.train_loop").info("loss = %s, step = %d", 0.5, 3)
        logging.getLogger("torchestimator").info("top")
        logging.getLogger("user.code").info("mine")
        logging.getLogger("torchestimator_other").info("not ours")
    assert [r.getMessage() for r in caplog.records] == [
        "[rank 1/2] loss = 0.5, step = 3",
        "[rank 1/2] top",
        "mine",
        "not ours",
    ]


def test_single_process_and_uninstall_leave_records_alone(caplog):
    factory = logging.getLogRecordFactory()
    install_rank_prefix(0, 1)
    assert logging.getLogRecordFactory() is factory
    install_rank_prefix(0, 4)
    install_rank_prefix(2, 4)  # idempotent: the latest rank wins, one wrapper
    uninstall_rank_prefix()
    assert logging.getLogRecordFactory() is factory
    with caplog.at_level(logging.INFO):
        logging.getLogger("torchestimator").info("plain")
    assert caplog.records[-1].getMessage() == "plain"
