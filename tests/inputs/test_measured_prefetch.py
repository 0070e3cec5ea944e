"""MeasuredPrefetch: inline for the probe batches, then a background thread only when the host share pays."""

from __future__ import annotations

import threading

import pytest

from torchestimator.inputs.measured_prefetch import MeasuredPrefetch


class FakeClock:
    """A clock the source and the consumer advance: host seconds per item, step seconds between items."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def timed_source(clock: FakeClock, n: int, host: float, threads: list[str]):
    for i in range(n):
        clock.now += host
        threads.append(threading.current_thread().name)
        yield i


def consume(stream: MeasuredPrefetch, clock: FakeClock, step: float) -> list[int]:
    out = []
    for item in stream:
        out.append(item)
        clock.now += step  # the training step between two batches
    return out


@pytest.mark.parametrize(
    "host, step, threaded",
    [(1.0, 2.0, True), (0.25, 4.0, False), (0.15, 0.85, True), (0.1, 0.9, False)],
)
def test_the_thread_starts_only_when_the_host_share_reaches_the_threshold(host, step, threaded):
    clock, seen, claims = FakeClock(), [], []
    source = timed_source(clock, 50, host, seen)
    stream = MeasuredPrefetch(source, claim=lambda: claims.append(1) or True, probe=10, skip=2, clock=clock)
    items = consume(stream, clock, step)
    assert items == list(range(50))  # order and completeness either way
    assert stream.threaded is threaded
    assert stream.host_share == pytest.approx(host / (host + step))
    assert claims == ([1] if threaded else [])  # a core is claimed only when the thread starts
    assert set(seen[:10]) == {threading.main_thread().name}  # the probe runs inline
    assert (set(seen[10:]) == {"torchestimator-prefetch"}) is threaded


def test_a_refused_claim_keeps_the_stream_inline():
    clock, seen = FakeClock(), []
    stream = MeasuredPrefetch(timed_source(clock, 30, 1.0, seen), claim=lambda: False, probe=5, clock=clock)
    assert consume(stream, clock, 1.0) == list(range(30))
    assert not stream.threaded
    assert set(seen) == {threading.main_thread().name}


def test_fewer_batches_than_the_probe_never_decide():
    clock = FakeClock()
    stream = MeasuredPrefetch(timed_source(clock, 3, 1.0, []), claim=lambda: True, probe=5, clock=clock)
    assert consume(stream, clock, 0.0) == [0, 1, 2]
    assert not stream.threaded and stream.host_share is None


@pytest.mark.parametrize("threaded", [False, True])
def test_close_closes_the_source_in_either_mode(threaded):
    closed = []

    def source():
        try:
            yield from range(100)
        finally:
            closed.append(threading.current_thread().name)

    stream = MeasuredPrefetch(
        source(), claim=lambda: True, probe=3, skip=0, min_share=0.0 if threaded else 1.1
    )
    assert [next(stream) for _ in range(5)] == [0, 1, 2, 3, 4]
    assert stream.threaded is threaded
    stream.close()
    assert len(closed) == 1


@pytest.mark.parametrize("fail_at", [2, 8])  # inside the probe (inline) and after it (threaded)
def test_a_source_error_reaches_the_consumer_at_its_batch(fail_at):
    def source():
        for i in range(20):
            if i == fail_at:
                raise ValueError(f"bad batch {i}")
            yield i

    stream = MeasuredPrefetch(source(), claim=lambda: True, probe=4, skip=0, min_share=0.0)
    got = []
    with pytest.raises(ValueError, match=f"bad batch {fail_at}"):
        for item in stream:
            got.append(item)
    assert got == list(range(fail_at))
    stream.close()
