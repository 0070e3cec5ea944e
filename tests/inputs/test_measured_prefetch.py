"""MeasuredPrefetch: inline for the probe batches, then a background thread tried when the host share is high
enough, kept only when its step period is shorter (else the source is handed back, nothing lost or repeated)."""

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


def timed_source(clock: FakeClock, n: int, host: float, threads: list[str], fail_at: int | None = None):
    for i in range(n):
        if i == fail_at:
            raise ValueError(f"bad batch {i}")
        if threading.current_thread() is threading.main_thread():
            clock.now += host  # inline, the host stage adds to the step; in the thread it overlaps it
        threads.append(threading.current_thread().name)
        yield i


def consume(stream: MeasuredPrefetch, clock: FakeClock, step: float, threaded_step: float | None = None):
    out = []
    for item in stream:
        out.append(item)
        # the training step between two batches (slower beside the thread when threaded_step says so)
        clock.now += threaded_step if stream.threaded and threaded_step is not None else step
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
    assert (set(seen[10:]) == {"torchestimator-prefetch"}) is threaded  # overlapped: faster, kept
    assert stream.inline_period == pytest.approx(host + step)
    assert stream.threaded_period == (pytest.approx(step) if threaded else None)


def test_a_thread_that_measures_slower_is_given_back_and_the_core_released():
    clock, seen, claims, releases = FakeClock(), [], [], []
    stream = MeasuredPrefetch(
        timed_source(clock, 60, 1.0, seen),
        claim=lambda: claims.append(1) or True,
        release=lambda: releases.append(1),
        probe=10,
        skip=2,
        clock=clock,
    )
    items = consume(stream, clock, step=2.0, threaded_step=3.5)  # inline period 3.0 < threaded 3.5
    assert items == list(range(60))  # nothing lost, repeated or reordered across the two switches
    assert claims == [1] and releases == [1]
    assert not stream.threaded
    assert stream.inline_period == pytest.approx(3.0) and stream.threaded_period == pytest.approx(3.5)
    main, worker = threading.main_thread().name, "torchestimator-prefetch"
    assert set(seen[:10]) == {main} and worker in seen[10:25]
    assert set(seen[25:]) == {main}  # inline again to the end


def test_a_thread_within_the_margin_is_given_back():
    clock = FakeClock()
    stream = MeasuredPrefetch(
        timed_source(clock, 40, 1.0, []), claim=lambda: True, probe=10, skip=2, margin=0.05, clock=clock
    )
    assert consume(stream, clock, step=2.0, threaded_step=2.9) == list(range(40))  # 3.3% faster only
    assert not stream.threaded


@pytest.mark.parametrize("n, fail_at", [(21, None), (22, None), (23, 22), (40, 22)])
def test_the_end_or_an_error_made_ahead_by_a_given_up_thread_comes_at_its_batch(n, fail_at):
    # probe 10 inline, then 11 batches with the thread: it may have made the last batches, or hit the
    # source's error, before it is given up; they still come out in order, the error at its batch
    clock = FakeClock()
    stream = MeasuredPrefetch(
        timed_source(clock, n, 1.0, [], fail_at),
        claim=lambda: True,
        probe=10,
        skip=2,
        buffer_size=4,
        clock=clock,
    )
    got: list[int] = []
    if fail_at is None:
        got = consume(stream, clock, step=2.0, threaded_step=5.0)
        assert got == list(range(n))
    else:
        with pytest.raises(ValueError, match=f"bad batch {fail_at}"):
            for item in stream:
                got.append(item)
                clock.now += 5.0 if stream.threaded else 2.0
        assert got == list(range(fail_at))
    with pytest.raises(StopIteration):
        next(stream)
    stream.close()


def test_close_after_the_thread_was_given_back_closes_the_source_once_here():
    closed = []
    clock = FakeClock()

    def source():
        try:
            yield from timed_source(clock, 100, 1.0, [])
        finally:
            closed.append(threading.current_thread().name)

    stream = MeasuredPrefetch(source(), claim=lambda: True, probe=5, skip=0, clock=clock)
    got = []
    for _ in range(60):
        got.append(next(stream))
        clock.now += 9.0 if stream.threaded else 1.0  # inline period 2.0, threaded 9.0: given back
    assert got == list(range(60)) and not stream.threaded
    stream.close()
    assert closed == [threading.main_thread().name]


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
