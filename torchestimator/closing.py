"""``close_iterator``: close an iterator a stream owns, when it is the kind that can be closed.

The input stages wrap one another (input_fn's iterator -> checked batches -> host stage -> prefetch ->
thread policy); each closes what it wraps when it is closed or stops early, so a reader's thread and files,
or a generator's ``finally``, are released at once rather than whenever the garbage collector runs::

    close_iterator(generator)      # generator.close(): GeneratorExit at its yield, its finally runs
    close_iterator(prefetcher)     # stops its thread, which closes its own source
    close_iterator(iter([1, 2]))   # no close(): nothing to do
"""

from __future__ import annotations

__all__ = ["close_iterator"]


def close_iterator(iterator: object) -> None:
    """Call ``iterator.close()`` if it has one (generators, prefetchers, dataset iterators); else nothing.

    Example:
        >>> def gen():
        ...     try:
        ...         yield 1
        ...     finally:
        ...         print("closed")
        >>> g = gen(); next(g)
        1
        >>> close_iterator(g)
        closed
        >>> close_iterator(iter([1, 2]))
    """
    close = getattr(iterator, "close", None)
    if close is not None:
        close()
