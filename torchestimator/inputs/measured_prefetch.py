"""``MeasuredPrefetch``: a CPU run's host stage, moved to a background thread only where that measures faster.

On CPU the host stage (feature-column transforms: numpy and Python) and the training step share the cores
and the GIL. A background thread overlaps the two, but it costs torch one intra-op thread, and the thread's
Python competes with the step's Python for the GIL; which wins depends on the model, the data and the
machine. So the stream tries both and keeps the faster::

    batches 1..probe           inline: time next(source) (host) and the time between calls (a step period)
    host share < min_share     (host / (host + step) of the medians): inline to the end, no thread tried
    or no CPU to claim
    batches probe+1..2*probe   background thread (``claim()``: torch gets one thread less); step periods
    threaded median period     >= (1 - margin) x the inline one: hand the source back (nothing lost or
                               repeated), ``release()`` the core, inline to the end; else keep the thread

Measured on the 2-core machine on 2026-12-01 (``scripts/bench_census.py``): the census wide & deep host stage
(vocabularies, crosses, bucketizing; ~1.2 ms of a ~3 ms step) ran 79-83k examples/s with the thread and
92-95k inline, where an earlier, slower step had favoured the thread; the DNN benchmark's host stage is
~10% of a step and never tries it. Each switch happens between two batches, so the source is never
iterated by two threads at once and the batch order is unchanged.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from torchestimator.closing import close_iterator
from torchestimator.inputs.prefetch import Prefetcher

__all__ = ["MARGIN", "MIN_HOST_SHARE", "PROBE_BATCHES", "MeasuredPrefetch"]

T = TypeVar("T")
MIN_HOST_SHARE = 0.15  # host stage's share of an inline step from which the thread is tried
PROBE_BATCHES = 20  # batches measured in each mode
MARGIN = 0.03  # the thread is kept only when its step period is at least this much shorter


class MeasuredPrefetch(Generic[T], Iterator[T]):
    """Iterate ``source`` inline for ``probe`` items, then in a :class:`Prefetcher` thread for ``probe``
    items if the host share is high enough, and on in whichever mode had the shorter step period.

    Args:
        source: the host stage (an iterator; iterated by one thread at a time).
        claim: called once, on the consuming thread, before the thread starts; returns whether it may
            (``torchestimator.threads.cpu_host_thread``, which gives torch one thread less).
        buffer_size: the prefetcher's queue size.
        probe: items measured in each mode (default :data:`PROBE_BATCHES`).
        skip: first items of each mode left out of the medians (warm-up: allocations, the queue filling).
        min_share: the host share of an inline step from which the thread is tried (default
            :data:`MIN_HOST_SHARE`).
        release: called on the consuming thread when the thread is given up (gives the core back).
        margin: how much shorter the threaded step period must be to keep the thread (default :data:`MARGIN`).
        clock: the timer (tests pass a fake one).

    Example:
        >>> stream = MeasuredPrefetch(iter(range(30)), claim=lambda: True, probe=5, skip=0, min_share=0.0)
        >>> list(stream) == list(range(30)), stream.host_share is not None
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
        release: Callable[[], None] = lambda: None,
        margin: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._source = source
        self._claim = claim
        self._release = release
        self._buffer_size = buffer_size
        self._probe = PROBE_BATCHES if probe is None else probe
        self._skip = skip
        self._min_share = MIN_HOST_SHARE if min_share is None else min_share
        self._margin = MARGIN if margin is None else margin
        self._clock = clock
        self._host: list[float] = []
        self._periods: list[float] = []  # entry to entry of __next__, in the mode being measured
        self._entered_at: float | None = None
        self._prefetcher: Prefetcher[T] | None = None
        self._pending: list[T] = []  # made ahead by a thread that was given up, served first
        self._end: BaseException | None = (
            None  # the source's end (StopIteration) or error, seen by that thread
        )
        self._measuring = True
        self.host_share: float | None = None  # measured share, set after the inline probe
        self.inline_period: float | None = None  # median step period inline (seconds)
        self.threaded_period: float | None = None  # median step period with the thread, when tried

    @property
    def threaded(self) -> bool:
        """Whether the stream comes from a background thread now."""
        return self._prefetcher is not None

    def __iter__(self) -> MeasuredPrefetch[T]:
        return self

    def __next__(self) -> T:
        if not self._measuring:
            return self._next_item()
        start = self._clock()
        if self._entered_at is not None:
            self._periods.append(start - self._entered_at)
        self._entered_at = start
        if self._prefetcher is None:
            item = next(self._source)
            self._host.append(self._clock() - start)
            if len(self._host) >= self._probe:
                self._after_inline_probe()
            return item
        item = next(self._prefetcher)
        if len(self._periods) >= self._probe:
            self._after_threaded_probe()
        return item

    def _next_item(self) -> T:
        if self._pending:
            return self._pending.pop(0)
        if self._end is not None:
            end, self._end = self._end, StopIteration()  # an error is raised once, then the stream has ended
            raise end
        return next(self._prefetcher if self._prefetcher is not None else self._source)

    def _after_inline_probe(self) -> None:
        host = statistics.median(self._host[self._skip :] or self._host)
        periods = self._periods[self._skip :] or self._periods or [host]
        self.inline_period = statistics.median(periods)
        step = max(0.0, self.inline_period - host)
        self.host_share = host / (host + step) if host + step > 0 else 0.0
        self._periods, self._entered_at = [], None
        if self.host_share >= self._min_share and self._claim():
            self._prefetcher = Prefetcher(self._source, self._buffer_size)
        else:
            self._measuring = False

    def _after_threaded_probe(self) -> None:
        self._measuring = False
        assert self._prefetcher is not None and self.inline_period is not None
        self.threaded_period = statistics.median(self._periods[self._skip :] or self._periods)
        if self.threaded_period < (1.0 - self._margin) * self.inline_period:
            return  # the thread pays: keep it
        items, error, ended = self._prefetcher.hand_back()
        self._prefetcher = None
        self._release()
        self._pending = items
        if error is not None or ended:
            self._end = error if error is not None else StopIteration()

    def close(self) -> None:
        """Stop the thread (it closes the source) or close the source here."""
        self._pending = []
        if self._prefetcher is not None:
            self._prefetcher.close()
            return
        close_iterator(self._source)
