"""Background prefetch: produce the next batches in a thread while the consumer trains on this one.

``prefetch(iterable, buffer_size)`` runs ``iter(iterable)`` in a daemon thread that fills a bounded
queue. An exception in the producer is re-raised in the consumer at the point it happened in the
stream. Stopping early (``close()``, leaving a ``with`` block, or dropping the iterator) stops the
producer at its next item and closes its iterator (so a generator's ``finally`` runs) in its own thread.

Readers built on numpy / pyarrow release the GIL for their heavy lifting, so one producer thread
overlaps decoding with the training step.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar

from torchestimator.closing import close_iterator
from torchestimator.errors import InvalidArgumentError

__all__ = ["Prefetcher", "prefetch"]

T = TypeVar("T")
_ITEM, _END, _ERROR, _HANDED_BACK = 0, 1, 2, 3
_POLL_S = 0.05  # how often a blocked producer checks whether the consumer has gone


class Prefetcher(Generic[T], Iterator[T]):
    """An iterator over ``iterable`` filled ``buffer_size`` items ahead by a background thread.

    Args:
        iterable: anything iterable; it is iterated once, in the background thread.
        buffer_size: how many items may wait in the queue (>= 1).
    """

    def __init__(self, iterable: Iterable[T], buffer_size: int = 2) -> None:
        if int(buffer_size) < 1:
            raise InvalidArgumentError(f"prefetch buffer_size must be >= 1; received {buffer_size}.")
        self._queue: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=int(buffer_size))
        self._stop = threading.Event()
        self._hand_back = threading.Event()
        self._done = False
        # the thread holds the queue and the stop flag, never this object: a consumer that drops the
        # iterator (a loop that breaks, a train() that stopped early) lets it be collected, and __del__ then
        # stops the producer, which closes its source (files, a generator's finally) in its own thread
        self._thread = threading.Thread(
            target=_produce,
            args=(iterable, self._queue, self._stop, self._hand_back),
            name="torchestimator-prefetch",
            daemon=True,
        )
        self._thread.start()

    def __iter__(self) -> Prefetcher[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        kind, value = self._queue.get()
        if kind == _ITEM:
            return value
        self._done = True
        self._thread.join()
        if kind == _ERROR:
            raise value
        raise StopIteration

    def hand_back(self) -> tuple[list[T], BaseException | None, bool]:
        """Stop the producer after the item it is making, WITHOUT closing its source, and return what it
        made ahead: ``(items in order, the source's error or None, whether the source ended)``.

        The caller then goes on iterating the source itself (same order, nothing lost or repeated); this
        prefetcher yields nothing more.
        """
        items: list[T] = []
        if self._done:
            return items, None, True
        self._hand_back.set()
        while True:
            kind, value = self._queue.get()
            if kind == _ITEM:
                items.append(value)
                continue
            self._done = True
            self._thread.join()
            return items, value if kind == _ERROR else None, kind != _HANDED_BACK

    def close(self) -> None:
        """Stop the producer thread and wait for it (it closes its source iterator)."""
        self._done = True
        self._stop.set()
        while self._thread.is_alive():
            try:  # unblock a producer waiting on a full queue
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=_POLL_S)

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        stop = getattr(self, "_stop", None)  # absent when __init__ raised
        if stop is not None:
            stop.set()


def _put(q: queue.Queue[tuple[int, Any]], stop: threading.Event, message: tuple[int, Any]) -> bool:
    while not stop.is_set():
        try:
            q.put(message, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _produce(
    iterable: Iterable[Any],
    q: queue.Queue[tuple[int, Any]],
    stop: threading.Event,
    hand_back: threading.Event,
) -> None:
    """The producer thread: iterate ``iterable`` into ``q`` until it ends, fails or ``stop`` is set, or
    until ``hand_back`` is set (then it leaves the source open for the consumer)."""
    iterator: Iterator[Any] | None = None
    try:
        iterator = iter(iterable)
        for item in iterator:
            if not _put(q, stop, (_ITEM, item)):
                return
            if hand_back.is_set():
                iterator = None  # the consumer iterates it from here: not closed
                _put(q, stop, (_HANDED_BACK, None))
                return
        _put(q, stop, (_END, None))
    except BaseException as err:  # re-raised in the consumer
        _put(q, stop, (_ERROR, err))
    finally:
        with contextlib.suppress(Exception):  # closing must not mask the stream's result
            close_iterator(iterator)


def prefetch(iterable: Iterable[T], buffer_size: int = 2) -> Prefetcher[T]:
    """Iterate ``iterable`` in a background thread, ``buffer_size`` items ahead.

    Args:
        iterable: the source (a generator, a list, a dataset, ...).
        buffer_size: how many items may be produced ahead of the consumer.

    Returns:
        A one-shot iterator; call ``close()`` (or use it as a context manager) to stop early.

    Example:
        >>> with prefetch(range(5), buffer_size=2) as it:
        ...     list(it)
        [0, 1, 2, 3, 4]
    """
    return Prefetcher(iterable, buffer_size)
