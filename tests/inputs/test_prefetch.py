"""Background prefetch: order, exceptions reach the consumer, early stop closes the producer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from torchestimator.errors import InvalidArgumentError
from torchestimator.inputs import prefetch


def test_keeps_order() -> None:
    assert list(prefetch(range(100), buffer_size=3)) == list(range(100))


def test_producer_exception_is_raised_in_consumer_after_good_items() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise KeyError("boom")

    got = []
    with pytest.raises(KeyError, match="boom"):
        for item in prefetch(source(), 1):
            got.append(item)
    assert got == [1, 2]


def test_early_close_stops_producer_and_runs_its_finally() -> None:
    closed = threading.Event()
    produced = []

    def source() -> Iterator[int]:
        try:
            for i in range(10**9):
                produced.append(i)
                yield i
        finally:
            closed.set()

    with prefetch(source(), 2) as it:
        assert next(it) == 0
        assert next(it) == 1
    assert closed.wait(5)
    assert len(produced) <= 2 + 2 + 1  # consumed + buffered + one in flight
    assert not it._thread.is_alive()
    with pytest.raises(StopIteration):
        next(it)


def test_buffer_size_must_be_positive() -> None:
    with pytest.raises(InvalidArgumentError, match="buffer_size"):
        prefetch([1], 0)


def _wait_until(predicate, seconds: float = 3.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_an_abandoned_prefetcher_stops_its_thread_and_closes_its_source() -> None:
    """A consumer that drops the iterator without close() (a loop that breaks) leaks no thread."""
    import gc

    closed = []

    def source() -> Iterator[int]:
        try:
            yield from range(1000)
        finally:
            closed.append(True)

    before = set(threading.enumerate())
    for item in prefetch(source(), buffer_size=2):
        if item == 3:
            break
    gc.collect()
    assert _wait_until(lambda: closed == [True])
    assert _wait_until(lambda: not [t for t in threading.enumerate() if t not in before and t.is_alive()])
