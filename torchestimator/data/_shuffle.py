"""``shuffle``: tf.data's shuffle buffer, run on blocks of row indices when the input allows.

TF's algorithm: fill a buffer with ``buffer_size`` elements; then repeatedly emit a uniformly chosen
buffered element and put the next input element in its place; at the end of the input emit the rest in
random order. The same algorithm runs here with numpy's generator (TF's order itself cannot be
reproduced outside TF; the distribution, the buffer's reach and the epoch semantics are the same).

Vectorised form, for ``k`` incoming elements and slot draws ``j[0..k)``: output ``t`` is whatever slot
``j[t]`` holds at step ``t`` — the incoming element of the latest earlier step ``s < t`` with
``j[s] == j[t]``, else the buffer's element. A stable argsort of ``j`` finds every such ``s`` at once::

    combined = buffer (B rows) + incoming (k rows)
    out[t]   = combined[B + s]  if an earlier step wrote slot j[t]  else  combined[j[t]]
    buffer'  = combined[B + last writer of each slot, or the slot itself]

Over in-memory columns the blocks only carry row indices, so shuffling 1M rows moves int64 indices,
not data; ``batch`` gathers once.

Seeds: ``seed=None`` draws one from numpy's global generator when the dataset is built (so
``RunConfig(tf_random_seed=...)``, which seeds it, makes the order reproducible, as TF's global seed
does). With ``reshuffle_each_iteration=True`` (the default) every iteration — a new ``iter()`` or the
next epoch of a ``repeat`` after the shuffle — draws a new order; with ``False`` every iteration repeats
the first one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from torchestimator.data._block import Block, concat_blocks
from torchestimator.data._dataset import Dataset, check_count
from torchestimator.data._nodes import register_nodes
from torchestimator.data._transforms import Unary

__all__ = ["Shuffle", "shuffle_step"]

_MIN_PIECE = 8192  # incoming rows processed per vectorised step (at least the buffer size)


def shuffle_step(buffer: Block, incoming: Block, rng: np.random.Generator) -> tuple[Block, Block]:
    """Run ``len(incoming)`` steps of the shuffle buffer: returns ``(new buffer, emitted elements)``."""
    size, k = len(buffer), len(incoming)
    # 16-bit draws sort with numpy's radix sort (several times faster than a 64-bit merge sort)
    draws = rng.integers(0, size, k, dtype=np.uint16 if size <= 1 << 16 else np.int64)
    order = np.argsort(draws, kind="stable")
    draws = draws.astype(np.int64)
    ordered = draws[order]
    same = ordered[1:] == ordered[:-1]  # consecutive steps (in slot order) that hit the same slot
    source = draws.copy()
    source[order[1:][same]] = size + order[:-1][same]
    last = np.ones(k, dtype=bool)
    last[:-1] = ~same
    keep = np.arange(size, dtype=np.int64)
    keep[ordered[last]] = size + order[last]
    combined = concat_blocks([buffer, incoming])
    return combined.take(keep), combined.take(source)


class Shuffle(Unary):
    """``shuffle(buffer_size, seed, reshuffle_each_iteration)`` (see the module docstring)."""

    _keeps_elements = True

    def __init__(self, parent: Dataset, buffer_size: Any, seed: Any, reshuffle_each_iteration: Any) -> None:
        super().__init__(parent)
        self._size = check_count("buffer_size", buffer_size, 1)
        self._seed = int(np.random.randint(0, 2**62, dtype=np.int64)) if seed is None else int(seed)
        self._reshuffle = True if reshuffle_each_iteration is None else bool(reshuffle_each_iteration)
        self._iteration = 0

    def _rng(self) -> np.random.Generator:
        iteration = self._iteration if self._reshuffle else 0
        self._iteration += 1
        return np.random.default_rng([self._seed, iteration])

    def _vectorized(self) -> bool:
        return self._parent._vectorized()

    def _blocks(self) -> Iterator[Block]:
        rng = self._rng()
        blocks = self._parent._blocks()
        pool: list[Block] = []
        pooled = 0
        buffer: Block | None = None
        for block in blocks:
            if buffer is None:  # filling
                pool.append(block)
                pooled += len(block)
                if pooled < self._size:
                    continue
                merged = concat_blocks(pool)
                buffer, block = merged.take(slice(0, self._size)), merged.take(slice(self._size, None))
                pool = []
            piece_rows = max(self._size, _MIN_PIECE)
            for start in range(0, len(block), piece_rows):
                piece = block if len(block) <= piece_rows else block.take(slice(start, start + piece_rows))
                buffer, out = shuffle_step(buffer, piece, rng)
                yield out
        rest = buffer if buffer is not None else (concat_blocks(pool) if pool else None)
        if rest is not None and len(rest):
            yield rest.take(rng.permutation(len(rest)))

    def _elements(self) -> Iterator[Any]:
        if self._vectorized():
            yield from super()._elements()
            return
        rng = self._rng()
        buffer: list[Any] = []
        draws = np.empty(0, dtype=np.int64)
        used = 0
        for element in self._parent:
            if len(buffer) < self._size:
                buffer.append(element)
                continue
            if used == len(draws):
                draws, used = rng.integers(0, self._size, 1024), 0
            slot = int(draws[used])
            used += 1
            yield buffer[slot]
            buffer[slot] = element
        for i in rng.permutation(len(buffer)):
            yield buffer[i]


register_nodes(Shuffle)
