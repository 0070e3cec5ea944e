"""``MeasuredPrefetch``: a CPU run's host stage, moved to a background thread only when that pays.

On CPU the host stage (feature-column transforms: numpy and Python) and the training step share the cores
and the GIL. A background thread overlaps the two, but it costs torch one intra-op thread and the GIL
hand-offs between the threads; a host stage that is a small part of each step is faster inline. So the
stream measures before it decides::

    batches 1..probe       inline: time next(source) (host) and the time between calls (the step)
    after batch probe      host share = median host / (median host + median step), first `skip` left out
                           share >= min_share and a CPU to claim (``claim()``)  ->  background thread
                           otherwise                                            ->  inline to the end

Measured on the 2-core machine (``scripts/bench_premade.py``, ``scripts/bench_census.py``, 2026-12-01): the
DNN case's host stage is ~6% of a step (hashing 10 int columns, 0.25 ms of 4.3 ms) and ran at 0.92x the
hand-written loop with the thread, ~1.0x inline on both torch threads; the census wide & deep host stage is
~30% of a step (vocabularies, crosses, bucketizing: 0.86 ms of 2.1 ms) and is as fast or faster with the
thread. The switch is one-way and happens between two batches, so the source is never iterated by two
threads at once and the batch order is unchanged.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from torchestimator.closing import close_iterator
from torchestimator.inputs.prefetch import Prefetcher

__all__ = ["MIN_HOST_SHARE", "PROBE_BATCHES", "MeasuredPrefetch"]

T = TypeVar("T")
MIN_HOST_SHARE = 0.15  # host stage's share of a step from which a background thread pays (see above)
PROBE_BATCHES = 20  # batches measured inline before deciding


class MeasuredPrefetch(Generic[T], Iterator[T]):
    """Iterate ``source`` inline for ``probe`` items, then in a :class:`Prefetcher` thread if it pays.

    Args:
        source: the host stage (an iterator; iterated by one thread at a time).
        claim: called once, on the consuming thread, when the host share is high enough; returns whether
            the thread may start (``torchestimator.threads.cpu_host_thread``, which gives torch one thread
            less).
        buffer_size: the prefetcher's queue size.
        probe: items measured inline before deciding (default :data:`PROBE_BATCHES`).
        skip: first items left out of the medians (warm-up: allocations, first-step work).
        min_share: the host share of a step from which the thread starts (default :data:`MIN_HOST_SHARE`).
        clock: the timer (tests pass a fake one).

    Example:
        >>> stream = MeasuredPrefetch(iter(range(30)), claim=lambda: True, probe=5, skip=0, min_share=0.0)
        >>> items = list(stream); stream.threaded, items == list(range(30))
        (True, True)
    """

    def __init__(
        self,
        source: Iterator[T],
        claim: Callable[[], bool],
        buffer_size: int = 2,
        probe: int | None = None,
        skip: int = 4,
        min_share: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._source = source
        self._claim = claim
        self._buffer_size = buffer_size
        self._probe = PROBE_BATCHES if probe is None else probe
        self._skip = skip
        self._min_share = MIN_HOST_SHARE if min_share is None else min_share
        self._clock = clock
        self._host: list[float] = []
        self._step: list[float] = []
        self._returned_at: float | None = None
        self._prefetcher: Prefetcher[T] | None = None
        self.host_share: float | None = None  # measured share, set when the stream decides

    @property
    def threaded(self) -> bool:
        """Whether the rest of the stream comes from a background thread."""
        return self._prefetcher is not None

    def __iter__(self) -> MeasuredPrefetch[T]:
        return self

    def __next__(self) -> T:
        if self.host_share is not None:  # decided: no more timing
            return next(self._prefetcher if self._prefetcher is not None else self._source)
        start = self._clock()
        if self._returned_at is not None:
            self._step.append(start - self._returned_at)
        item = next(self._source)
        self._returned_at = self._clock()
        self._host.append(self._returned_at - start)
        if len(self._host) >= self._probe:
            self._decide()
        return item

    def _decide(self) -> None:
        host = statistics.median(self._host[self._skip :] or self._host)
        step = statistics.median(self._step[self._skip :] or self._step or [0.0])
        self.host_share = host / (host + step) if host + step > 0 else 0.0
        if self.host_share >= self._min_share and self._claim():
            self._prefetcher = Prefetcher(self._source, self._buffer_size)

    def close(self) -> None:
        """Stop the thread (it closes the source) or close the source here."""
        if self._prefetcher is not None:
            self._prefetcher.close()
            return
        close_iterator(self._source)
