"""File sources: ``TextLineDataset``, ``TFRecordDataset``, ``CsvDataset`` over the existing readers.

Each reads its files in order (``num_parallel_reads > 1`` interleaves them one element at a time, as TF
does) and streams blocks: a chunk of lines or records is one object array. ``filenames`` may be a name,
a list of names, or a dataset of names (e.g. ``Dataset.list_files``).

Strings: ``TextLineDataset`` lines and ``CsvDataset`` fields are Python ``str`` (UTF-8 decoded, as
``make_csv_dataset`` gives them; TF gives ``bytes``); ``TFRecordDataset`` records are ``bytes``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from torchestimator.data._block import Block
from torchestimator.data._dataset import UNKNOWN, Dataset, check_count
from torchestimator.errors import InputError, InvalidArgumentError

__all__ = ["CsvDataset", "TFRecordDataset", "TextLineDataset"]

_TEXT_CHUNK = 4 << 20  # bytes of text split into lines at a time


def _path(name: Any) -> str:
    return name.decode("utf-8") if isinstance(name, bytes) else os.fspath(name)


def _filenames(filenames: Any) -> list[str] | Dataset:
    """The file names, or the dataset of names (read lazily, on every iteration, as TF does)."""
    if isinstance(filenames, Dataset):
        return filenames
    if isinstance(filenames, (str, bytes, os.PathLike)):
        names = [filenames]
    else:
        names = list(np.asarray(filenames, dtype=object).reshape(-1))
    if not names:
        raise InvalidArgumentError("filenames must name at least one file; received an empty list.")
    return [_path(n) for n in names]


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


class _FileSource(Dataset):
    """Files read one after another as blocks, or interleaved with ``num_parallel_reads``."""

    def __init__(self, filenames: Any, num_parallel_reads: Any) -> None:
        self._files = _filenames(filenames)
        self._parallel = (
            1 if num_parallel_reads is None else check_count("num_parallel_reads", num_parallel_reads, -1)
        )
        if self._parallel == -1:  # AUTOTUNE
            self._parallel = 1

    def _read_file(self, path: str) -> Iterator[Block]:
        raise NotImplementedError

    def _single(self, path: str) -> Dataset:
        raise NotImplementedError

    def _paths(self) -> Iterator[str]:
        return (_path(n) for n in self._files)

    def _first_path(self) -> str:
        first = next(self._paths(), None)
        if first is None:
            raise InvalidArgumentError("filenames is an empty dataset; it must name at least one file.")
        return first

    def _vectorized(self) -> bool:
        return self._parallel <= 1 or (isinstance(self._files, list) and len(self._files) <= 1)

    def _blocks(self) -> Iterator[Block]:
        for path in self._paths():
            yield from self._read_file(path)

    def _elements(self) -> Iterator[Any]:
        if self._vectorized():
            return super()._elements()
        from torchestimator.data._sources import TensorSlices

        names = self._files if isinstance(self._files, Dataset) else TensorSlices(_objects(self._files))
        single = lambda name: self._single(_path(name))  # noqa: E731
        return iter(names.interleave(single, cycle_length=self._parallel, block_length=1))

    def _cardinality(self) -> int:
        return UNKNOWN


class _CompressedFileSource(_FileSource):
    """TF's (filenames, compression_type, buffer_size, num_parallel_reads, name) file sources.

    ``buffer_size`` and ``name`` are accepted for TF compatibility; reads are in fixed chunks.
    """

    def __init__(
        self,
        filenames: Any,
        compression_type: str | None = None,
        buffer_size: int | None = None,
        num_parallel_reads: int | None = None,
        name: str | None = None,
    ) -> None:
        from torchestimator.inputs.tfrecord import tfrecord_compression

        super().__init__(filenames, num_parallel_reads)
        self._compression = tfrecord_compression(compression_type)

    def _single(self, path: str) -> Dataset:
        return type(self)(path, self._compression or None)


class TextLineDataset(_CompressedFileSource):
    """The lines of text files, without their ``\\n`` / ``\\r\\n`` (``tf.data.TextLineDataset``).

    Example:
        >>> lines = TextLineDataset("data/titanic/train.csv").skip(1)  # doctest: +SKIP
    """

    def _read_file(self, path: str) -> Iterator[Block]:
        from torchestimator.inputs.tfrecord import open_read

        carry = b""
        with open_read(path, self._compression) as stream:
            while True:
                chunk = stream.read(_TEXT_CHUNK)
                data = carry + chunk
                if not chunk:
                    lines = data.split(b"\n") if data else []
                    carry = b""
                else:
                    *lines, carry = data.split(b"\n")
                if lines:
                    yield Block("leaf", [self._decode(lines, path)])
                if not chunk:
                    return

    @staticmethod
    def _decode(lines: list[bytes], path: str) -> np.ndarray:
        try:
            return _objects([(ln[:-1] if ln.endswith(b"\r") else ln).decode("utf-8") for ln in lines])
        except UnicodeDecodeError as err:
            raise InputError(
                f"{path!r} is not UTF-8 text ({err}); TextLineDataset reads UTF-8 lines."
            ) from err


class TFRecordDataset(_CompressedFileSource):
    """The records of TFRecord files, as ``bytes`` (``tf.data.TFRecordDataset``)."""

    def _read_file(self, path: str) -> Iterator[Block]:
        from torchestimator.inputs.tfrecord import read_record_chunks

        for chunk in read_record_chunks(path, self._compression):
            yield Block("leaf", [_objects(chunk.records())])


def csv_default(index: int, value: Any) -> tuple[str, Any]:
    from torchestimator.inputs.csv_types import parse_default

    if isinstance(value, (list, tuple, np.ndarray)) and np.asarray(value).size == 0:
        # TF: an empty default is a required float32 column
        return parse_default(index, f"column {index}", "float32")
    return parse_default(index, f"column {index}", value)


class CsvDataset(_FileSource):
    """Rows of CSV files as tuples of scalars (``tf.data.experimental.CsvDataset``).

    ``record_defaults`` has one entry per selected column: a default value (``[0.0]``, ``[""]``, ``0``)
    whose type sets the column's dtype, or a dtype (``"int32"``, ``np.float64``) for a required column.
    """

    def __init__(
        self,
        filenames: Any,
        record_defaults: Sequence[Any],
        compression_type: str | None = None,
        buffer_size: int | None = None,
        header: bool = False,
        field_delim: str = ",",
        use_quote_delim: bool = True,
        na_value: str = "",
        select_cols: Sequence[int] | None = None,
        exclude_cols: Sequence[int] | None = None,
        name: str | None = None,
    ) -> None:
        from torchestimator.inputs.csv_reader import CsvReader, csv_compression, csv_line_reader, open_text

        super().__init__(filenames, None)
        if select_cols is not None and exclude_cols is not None:
            raise InvalidArgumentError("CsvDataset takes select_cols or exclude_cols, not both.")
        parsed = [csv_default(i, d) for i, d in enumerate(record_defaults)]
        compression = csv_compression(compression_type)
        if select_cols is None and exclude_cols is None:
            width = len(parsed)
        else:
            with open_text(self._first_path(), compression) as f:
                first = next(csv_line_reader(f, field_delim, use_quote_delim), [])
            width = len(first)
        selected = list(range(width))
        if select_cols is not None:
            selected = sorted(int(c) for c in select_cols)
        elif exclude_cols is not None:
            selected = [c for c in selected if c not in {int(e) for e in exclude_cols}]
        if len(selected) != len(parsed) or any(not 0 <= c < width for c in selected):
            raise InvalidArgumentError(
                f"CsvDataset: record_defaults has {len(parsed)} entries but {len(selected)} columns are selected "
                f"({selected} of {width}); give one default (or dtype) per selected column."
            )
        names = [f"column {i}" for i in range(width)]
        self._names = [names[c] for c in selected]
        self._reader = CsvReader(
            names,
            selected,
            [p[0] for p in parsed],
            [p[1] for p in parsed],
            field_delim,
            use_quote_delim,
            na_value,
            header,
            compression,
            False,
        )
        self._tree = ("tuple", None, ("leaf",) * len(selected))

    def _read_file(self, path: str) -> Iterator[Block]:
        for block in self._reader(path):
            yield Block(self._tree, [block[n] for n in self._names])
