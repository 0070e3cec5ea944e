"""The pipeline shared by the file readers: file lists, per-worker sharding, seeded shuffling, epochs, batching.

Data moves in *blocks*: ``dict[str, np.ndarray]`` of equal-length columns (a CSV record batch, or a
chunk of serialized TFRecords in one object column). Stages, in TF's order::

    files --(shard files, shuffle file order per epoch)--> blocks --(shard rows)--> shuffle buffer
          --> batches of batch_size (last partial batch kept) --> finalize(batch) --> yield

Sharding follows TF's auto-shard policy for an ``InputContext``: with at least
``num_input_pipelines`` files, pipeline ``i`` reads files ``i, i + n, ...``; otherwise it reads every
file and keeps the rows whose global index is ``i`` mod ``n``. Either way the ``n`` shards partition the
data exactly.

The shuffle buffer behaves like ``tf.data``'s: each emitted row is drawn uniformly from a buffer of
``shuffle_buffer_size`` rows. As in TF's readers (``make_csv_dataset`` and
``make_batched_features_dataset`` call ``dataset.shuffle(...)`` and then ``.repeat(num_epochs)``), the
buffer is drained at the end of every epoch, so rows of two epochs never mix and every epoch is a
fresh permutation (with a buffer at least as large as the data). Batches still run across epoch
boundaries, as TF batches after repeating. A seed makes the whole stream reproducible: every
``iter()`` replays the same order, while successive epochs within one iteration differ. Without a
seed, an ``iter()`` inside ``Estimator.train`` takes its seed from the train call's recorded input
seed (see :mod:`torchestimator.rng`), so a resumed call replays the order it was interrupted in.
"""

from __future__ import annotations

import glob
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from torchestimator.errors import InvalidArgumentError
from torchestimator.inputs.prefetch import prefetch
from torchestimator.parallel.input_context import InputContext
from torchestimator.parsing import Ragged
from torchestimator.rng import unseeded_shuffle_seed

__all__ = ["BatchedDataset", "expand_file_pattern", "shard_plan"]

Block = dict[str, Any]  # column name -> np.ndarray (rows on axis 0) or Ragged
_EPOCH_END: Any = None  # marks the end of an epoch in the block stream


def ragged_take(column: Ragged, index: np.ndarray | slice) -> Ragged:
    rows = np.arange(column.nrows, dtype=np.int64)[index]
    lengths = column.row_lengths()[rows]
    splits = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=splits[1:])
    total = int(splits[-1])
    starts = column.row_splits[rows]
    flat = np.repeat(starts - splits[:-1], lengths) + np.arange(total, dtype=np.int64)
    return Ragged(column.values[flat], splits)


def ragged_concat(columns: list[Ragged]) -> Ragged:
    offsets = np.cumsum([0] + [int(c.row_splits[-1]) for c in columns[:-1]])
    splits = np.concatenate(
        [columns[0].row_splits[:1]] + [c.row_splits[1:] + o for c, o in zip(columns, offsets)]
    )
    return Ragged(np.concatenate([c.values for c in columns]), splits)


def expand_file_pattern(
    file_pattern: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], shuffle: bool
) -> list[str]:
    """Expand a glob pattern or a list of patterns into file names (TF's ``_get_file_names``).

    Files are sorted when ``shuffle`` is False (deterministic order, as in TF); with shuffling the order is
    randomised per epoch later.

    Raises:
        InvalidArgumentError: the list is empty or nothing matches.
    """
    patterns = [file_pattern] if isinstance(file_pattern, (str, os.PathLike)) else list(file_pattern)
    if not patterns:
        raise InvalidArgumentError(
            "file_pattern must not be empty; pass a file name, a glob or a list of them."
        )
    files: list[str] = []
    for pattern in patterns:
        pattern = os.fspath(pattern)
        matched = (
            sorted(glob.glob(pattern))
            if glob.has_magic(pattern)
            else ([pattern] if os.path.exists(pattern) else [])
        )
        files.extend(matched)
    if not files:
        raise InvalidArgumentError(f"No files match file_pattern {file_pattern!r} (cwd {os.getcwd()!r}).")
    return files if shuffle else sorted(files)


def shard_plan(
    files: list[str], input_context: InputContext | None
) -> tuple[list[str], tuple[int, int] | None]:
    """Pick this pipeline's files, or ``(n, i)`` row sharding when there are fewer files than pipelines."""
    if input_context is None or input_context.num_input_pipelines == 1:
        return files, None
    n, i = input_context.num_input_pipelines, input_context.input_pipeline_id
    if len(files) >= n:
        return files[i::n], None
    return files, (n, i)


def _concat(blocks: list[Block]) -> Block:
    if len(blocks) == 1:
        return blocks[0]
    return {
        k: ragged_concat([b[k] for b in blocks])
        if isinstance(v, Ragged)
        else np.concatenate([b[k] for b in blocks])
        for k, v in blocks[0].items()
    }


def _take(block: Block, index: np.ndarray | slice) -> Block:
    return {k: ragged_take(v, index) if isinstance(v, Ragged) else v[index] for k, v in block.items()}


def _rows(block: Block) -> int:
    return len(next(iter(block.values()))) if block else 0


class BatchedDataset:
    """A re-iterable stream of batches from files (see the module docstring).

    Args:
        files: file names (already expanded).
        read_file: ``path -> iterator of blocks`` for one file.
        batch_size: rows per batch.
        finalize: turns a batch block into what the user sees (e.g. ``(features, label)``).
        num_epochs: passes over the data; ``None`` repeats forever.
        shuffle: shuffle file order and rows.
        shuffle_buffer_size: rows in the shuffle buffer.
        shuffle_seed: seed for reproducible order; ``None`` draws a fresh order per ``iter()``.
        input_context: this pipeline's shard, or ``None``.
        prefetch_buffer_size: batches produced ahead in a background thread (0 disables).
        drop_remainder: drop a last batch smaller than ``batch_size``.
    """

    def __init__(
        self,
        files: list[str],
        read_file: Callable[[str], Iterable[Block]],
        batch_size: int,
        finalize: Callable[[Block], Any],
        num_epochs: int | None = None,
        shuffle: bool = True,
        shuffle_buffer_size: int = 10000,
        shuffle_seed: int | None = None,
        input_context: InputContext | None = None,
        prefetch_buffer_size: int = 2,
        drop_remainder: bool = False,
    ) -> None:
        if int(batch_size) < 1:
            raise InvalidArgumentError(f"batch_size must be a positive int; received {batch_size!r}.")
        if num_epochs is not None and int(num_epochs) < 1:
            raise InvalidArgumentError(
                f"num_epochs must be None (repeat forever) or >= 1; received {num_epochs!r}."
            )
        if shuffle and int(shuffle_buffer_size) < 1:
            raise InvalidArgumentError(f"shuffle_buffer_size must be >= 1; received {shuffle_buffer_size!r}.")
        self.files, self.row_shard = shard_plan(files, input_context)
        self._read_file = read_file
        self.batch_size = int(batch_size)
        self._finalize = finalize
        self.num_epochs = num_epochs
        self.shuffle = bool(shuffle)
        self.shuffle_buffer_size = int(shuffle_buffer_size)
        self.shuffle_seed = shuffle_seed
        self.prefetch_buffer_size = int(prefetch_buffer_size or 0)
        self.drop_remainder = drop_remainder

    def _blocks(self, rng: np.random.Generator | None) -> Iterator[Block]:
        epochs = itertools.count() if self.num_epochs is None else range(int(self.num_epochs))
        for _ in epochs:
            files = list(self.files)
            if rng is not None:
                files = [files[i] for i in rng.permutation(len(files))]
            offset = 0  # global row index within the epoch, for row sharding
            produced = False
            for path in files:
                for block in self._read_file(path):
                    rows = _rows(block)
                    if self.row_shard is not None:
                        n, i = self.row_shard
                        first = (i - offset) % n
                        block = _take(block, slice(first, None, n))
                    offset += rows
                    if _rows(block):
                        produced = True
                        yield block
            yield _EPOCH_END
            if not produced and self.num_epochs is None:
                return  # an empty shard repeated forever would spin

    def _shuffled(self, blocks: Iterator[Block], rng: np.random.Generator) -> Iterator[Block]:
        """TF-like shuffle buffer, vectorised: each incoming row takes the slot of a random buffered row,
        which is emitted (O(rows in), not O(buffer), per block)."""
        size = self.shuffle_buffer_size
        pool: list[Block] = []
        pooled = 0
        buffer: Block | None = None
        for block in blocks:
            if block is _EPOCH_END:  # drain: epochs never mix (shuffle, then repeat)
                if buffer is not None:
                    yield _take(buffer, rng.permutation(size))
                elif pooled:
                    yield _take(_concat(pool), rng.permutation(pooled))
                buffer, pool, pooled = None, [], 0
                continue
            if buffer is None:  # filling: the first `size` rows, in random order
                pool.append(block)
                pooled += _rows(block)
                if pooled < size:
                    continue
                merged = _concat(pool)
                perm = rng.permutation(pooled)
                buffer = _take(merged, perm[:size])  # a copy: safe to overwrite
                block = _take(merged, perm[size:])
                pool = []
                if not _rows(block):
                    continue
            if any(isinstance(v, Ragged) for v in block.values()):
                # ragged columns cannot be overwritten in place: merge and re-draw (O(buffer))
                merged = _concat([buffer, block])
                perm = rng.permutation(_rows(merged))
                emit = _rows(block)
                yield _take(merged, perm[:emit])
                buffer = _take(merged, perm[emit:])
                continue
            incoming = _rows(block)
            for start in range(0, incoming, size):
                piece = block if incoming <= size else _take(block, slice(start, start + size))
                slots = rng.choice(size, _rows(piece), replace=False)
                yield _take(buffer, slots)
                for key, column in buffer.items():
                    column[slots] = piece[key]
        if buffer is not None:
            yield _take(buffer, rng.permutation(size))
        elif pooled:
            merged = _concat(pool)
            yield _take(merged, rng.permutation(pooled))

    def _batches(self, seed: int | None) -> Iterator[Any]:
        rng = np.random.default_rng(seed) if self.shuffle else None
        blocks = self._blocks(rng)
        if rng is not None:
            blocks = self._shuffled(blocks, rng)
        else:
            blocks = (b for b in blocks if b is not _EPOCH_END)
        pending: list[Block] = []
        pending_rows = 0
        for block in blocks:
            pending.append(block)
            pending_rows += _rows(block)
            if pending_rows < self.batch_size:
                continue
            merged = _concat(pending)
            full = pending_rows - pending_rows % self.batch_size
            for start in range(0, full, self.batch_size):
                yield self._finalize(_take(merged, slice(start, start + self.batch_size)))
            pending = [_take(merged, slice(full, None))] if full < pending_rows else []
            pending_rows -= full
        if pending_rows and not self.drop_remainder:
            yield self._finalize(_concat(pending))

    def __iter__(self) -> Iterator[Any]:
        # drawn here, in the caller's thread: inside train() an unseeded shuffle gets the call's recorded seed
        seed = self.shuffle_seed
        if self.shuffle and seed is None:
            seed = unseeded_shuffle_seed()
        if self.prefetch_buffer_size > 0:
            return prefetch(self._batches(seed), self.prefetch_buffer_size)
        return self._batches(seed)
