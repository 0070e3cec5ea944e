"""Server-side dynamic batching: concurrent small requests merged into one predictor call.

TF Serving's ``--enable_batching`` with its ``BatchingParameters``: requests for the same servable and
signature whose inputs agree on dtype and trailing shape share a queue; a batch thread takes the oldest
request, waits up to ``batch_timeout_micros`` for more (never past ``max_batch_size`` rows), concatenates
the inputs along dimension 0, runs the signature once and hands each request its rows of every output.

::

    request A (3 rows) ─┐
    request B (1 row)  ─┼─► queue[(servable, signature, input layout)] ─► batch thread: concat (6 rows)
    request C (2 rows) ─┘                                                  -> signature -> split 3 / 1 / 2

Without batching, :class:`DirectRunner` runs each request on a thread pool. Both return a
``concurrent.futures.Future`` of ``{output key: array}``.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from torchestimator.errors import InvalidArgumentError
from torchestimator.server._status import ServingError

__all__ = ["Batcher", "BatchingOptions", "DirectRunner"]

Call = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's ``BatchingParameters`` (the fields this server uses).

    Attributes:
        max_batch_size: most rows in one merged call (TF Serving's default 1000).
        batch_timeout_micros: how long the oldest request waits for company (TF Serving's default 0).
        num_batch_threads: threads running merged calls (default: the CPU count).
        max_enqueued_batches: queue bound, in batches; a request past it gets UNAVAILABLE.
    """

    max_batch_size: int = 1000  # rows
    batch_timeout_micros: int = 0
    num_batch_threads: int = 0  # 0 -> os.cpu_count()
    max_enqueued_batches: int = 100

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_enqueued_batches"):
            if getattr(self, name) < 1:
                raise InvalidArgumentError(
                    f"BatchingOptions.{name} must be >= 1; received {getattr(self, name)}."
                )
        if self.batch_timeout_micros < 0 or self.num_batch_threads < 0:
            raise InvalidArgumentError("batch_timeout_micros and num_batch_threads must be >= 0.")

    def replace(self, **changes: Any) -> BatchingOptions:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


def batch_rows(inputs: Mapping[str, np.ndarray]) -> int | None:
    """The common dimension-0 size of ``inputs``, or None when they cannot be batched."""
    sizes = {a.shape[0] if a.ndim else None for a in inputs.values()}
    return sizes.pop() if len(sizes) == 1 and None not in sizes else None


class DirectRunner:
    """Each request runs alone on a thread pool of ``num_threads``."""

    def __init__(self, num_threads: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, num_threads), thread_name_prefix="te-serve")

    def submit(self, key: Any, call: Call, inputs: dict[str, np.ndarray], on_batch: Any = None) -> Future:
        """Run ``call(inputs)``; ``key`` and ``on_batch`` are ignored."""
        del key
        if on_batch is not None:
            on_batch(batch_rows(inputs) or 1)
        return self._pool.submit(call, inputs)

    def shutdown(self) -> None:
        """Finish queued work, then stop the threads."""
        self._pool.shutdown(wait=True)


@dataclasses.dataclass
class _Task:
    inputs: dict[str, np.ndarray]
    rows: int
    future: Future
    enqueued: float
    call: Call
    on_batch: Any


class Batcher:
    """Dynamic batching over :class:`BatchingOptions` (see the module docstring)."""

    def __init__(self, options: BatchingOptions) -> None:
        import os

        self.options = options
        self._queues: dict[Any, collections.deque[_Task]] = {}
        self._cond = threading.Condition()
        self._closed = False
        threads = options.num_batch_threads or os.cpu_count() or 1
        self._threads = [
            threading.Thread(target=self._work, name=f"te-batch-{i}", daemon=True) for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    def submit(self, key: Any, call: Call, inputs: dict[str, np.ndarray], on_batch: Any = None) -> Future:
        """Queue ``inputs`` for ``call``; requests with equal ``key`` may share a call.

        ``on_batch(rows)`` is called once per merged call with its row count (for metrics).
        """
        future: Future = Future()
        rows = batch_rows(inputs)
        layout = tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in inputs.items()))
        with self._cond:
            if self._closed:
                raise ServingError("UNAVAILABLE", "The server is shutting down.")
            queue = self._queues.setdefault((key, layout, rows is None), collections.deque())
            limit = self.options.max_enqueued_batches * self.options.max_batch_size
            if sum(t.rows for t in queue) + (rows or 1) > limit:
                raise ServingError(
                    "UNAVAILABLE", "The batch scheduling queue to which this task was submitted is full"
                )
            queue.append(_Task(inputs, rows or 1, future, time.monotonic(), call, on_batch))
            self._cond.notify()
        return future

    def _take(self) -> list[_Task] | None:
        """Under the lock: wait for a batch that is full or whose oldest task timed out."""
        timeout = self.options.batch_timeout_micros / 1e6
        while True:
            if self._closed and not any(self._queues.values()):
                return None
            now = time.monotonic()
            ready, wait = None, None
            for key, queue in self._queues.items():
                if not queue:
                    continue
                unbatchable = key[2]
                full = sum(t.rows for t in queue) >= self.options.max_batch_size
                due = queue[0].enqueued + timeout - now
                if unbatchable or full or due <= 0 or self._closed:
                    if ready is None or queue[0].enqueued < self._queues[ready][0].enqueued:
                        ready = key
                else:
                    wait = due if wait is None else min(wait, due)
            if ready is not None:
                queue = self._queues[ready]
                tasks = [queue.popleft()]
                total = tasks[0].rows
                while not ready[2] and queue and total + queue[0].rows <= self.options.max_batch_size:
                    tasks.append(queue.popleft())
                    total += tasks[-1].rows
                return tasks
            self._cond.wait(wait)

    def _work(self) -> None:
        while True:
            with self._cond:
                tasks = self._take()
            if tasks is None:
                return
            self._run(tasks)

    @staticmethod
    def _run(tasks: list[_Task]) -> None:
        live = [t for t in tasks if t.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            if len(live) == 1:
                merged = live[0].inputs
            else:
                merged = {k: np.concatenate([t.inputs[k] for t in live]) for k in live[0].inputs}
            if live[0].on_batch is not None:
                live[0].on_batch(sum(t.rows for t in live))
            outputs = live[0].call(merged)
        except BaseException as err:
            for t in live:
                t.future.set_exception(err)
            return
        start = 0
        for t in live:
            stop = start + t.rows
            if len(live) == 1:
                t.future.set_result(outputs)
            else:
                t.future.set_result({k: v[start:stop] for k, v in outputs.items()})
            start = stop

    def shutdown(self) -> None:
        """Run what is queued, then stop the batch threads."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=30)
