"""Background prefetch: order, exceptions reach the consumer, early stop closes the producer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from torchestimator.errors import InvalidArgumentError
from torchestimator.inputs import prefetch
from torchestimator.inputs.prefetch import Prefetcher


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


def test_hand_back_returns_the_items_made_ahead_and_leaves_the_source_open():
    closed = []

    def source():
        try:
            yield from range(100)
        finally:
            closed.append(True)

    it = source()
    p = Prefetcher(it, buffer_size=3)
    first = [next(p) for _ in range(5)]
    ahead, error, ended = p.hand_back()
    assert error is None and not ended and not closed
    rest = list(it)  # the caller goes on with the source itself
    assert first + ahead + rest == list(range(100))  # nothing lost, repeated or reordered
    with pytest.raises(StopIteration):
        next(p)
    p.close()
    assert closed == [True]  # closed once: by the exhausted generator, not by the prefetcher


def test_hand_back_after_the_source_ended_or_failed_reports_it():
    done = threading.Event()

    def ending():
        try:
            yield from range(3)
        finally:
            done.set()

    p = Prefetcher(ending(), buffer_size=8)
    assert done.wait(10)  # the producer has made every item (and then reports the end)
    assert p.hand_back() == ([0, 1, 2], None, True)

    done.clear()

    def failing():
        try:
            yield 0
            raise ValueError("bad batch 1")
        finally:
            done.set()

    p = Prefetcher(failing(), buffer_size=8)
    assert done.wait(10)
    items, error, ended = p.hand_back()
    assert items == [0] and isinstance(error, ValueError) and ended
