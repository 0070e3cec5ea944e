"""``make_csv_dataset``: TF's ``tf.data.experimental.make_csv_dataset`` on pyarrow's CSV reader.

Semantics match TF 2.15 (checked on fixtures it produced with ``shuffle=False``):

* **Type inference** (no ``column_defaults``): the first ``num_rows_for_inference`` rows (across the
  files, in order) decide each column's type, the least permissive of ``int32 < int64 < float32 <
  float64 < string`` that every non-missing value fits. ``int32`` stays ``int32`` (TF does not widen it),
  ``"inf"`` / ``"nan"`` are not floats, a column with no values is ``string``. Missing values default to
  ``0`` / ``""``.
* **Missing values**: an empty field, or one equal to ``na_value``, takes the column default; a column
  whose default is a dtype (or an empty list) is required, and a missing value is an error.
* **column_defaults**: one per selected column; a Python ``int`` → int32 (int64 when it does not fit),
  ``float`` → float32, ``str`` → string; a dtype (``"int64"``, ``np.float64``, ...) makes it required.
* ``label_name`` is popped from the features: batches are ``(features, label)``, else ``features``.
* Features keep the file's column order; the last partial batch is kept.

Strings come out as numpy object arrays of Python ``str`` (a CSV file is text; TF would give
``bytes``). A malformed row (wrong field count) or a value that does not parse raises
:class:`~torchestimator.errors.InputError` naming the file and line; with ``ignore_errors=True`` such rows
are skipped and counted in one log line per file.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import logging
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from torchestimator.errors import InputError, InvalidArgumentError, did_you_mean
from torchestimator.inputs.pipeline import BatchedDataset, expand_file_pattern
from torchestimator.parallel.input_context import InputContext

__all__ = ["make_csv_dataset"]

_log = logging.getLogger(__name__)
_TYPE_ORDER = ("int32", "int64", "float32", "float64", "string")
if TYPE_CHECKING:
    import pyarrow as pa


def _arrow_type(dtype: str) -> pa.DataType:
    import pyarrow as pa  # imported on first use: pyarrow.compute alone costs ~0.1 s at import

    return getattr(pa, dtype)()


_NUMPY = {"int32": np.int32, "int64": np.int64, "float32": np.float32, "float64": np.float64}
_REQUIRED = object()  # marker: the column has no default


def _value_rank(text: str) -> int:
    """Index in ``_TYPE_ORDER`` of the least permissive type ``text`` fits (TF's ``_infer_type``)."""
    try:
        value = int(text)
        if -(2**31) <= value < 2**31:
            return 0
        if -(2**63) <= value < 2**63:
            return 1
    except ValueError:
        pass
    for rank, np_type in ((2, np.float32), (3, np.float64)):
        try:
            with np.errstate(over="ignore"):
                if np_type(text) < np.inf:
                    return rank
        except (ValueError, OverflowError):
            pass
    return 4


def _dtype_name(value: Any) -> str | None:
    """A dtype-like value's name in ``_TYPE_ORDER``, or ``None`` if ``value`` is not a dtype."""
    if isinstance(value, str) and value.replace("tf.", "") in _TYPE_ORDER:
        return value.replace("tf.", "")
    if value in (str, bytes):
        return "string"
    if isinstance(value, (type, np.dtype)):
        try:
            name = np.dtype(value).name
        except TypeError:
            return None
        return name if name in _TYPE_ORDER else None
    name = str(value).replace("torch.", "")
    return name if name in _TYPE_ORDER else None


def _parse_default(index: int, name: str, value: Any) -> tuple[str, Any]:
    """``(dtype, default or _REQUIRED)`` of one ``column_defaults`` entry."""
    dtype = _dtype_name(value) if not isinstance(value, (list, tuple, np.ndarray)) else None
    if dtype is not None and not (isinstance(value, str) and value not in _TYPE_ORDER):
        return dtype, _REQUIRED
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value)
        if arr.size == 0:
            raise InvalidArgumentError(
                f"column_defaults[{index}] (column {name!r}) is an empty list: give its dtype instead "
                "(e.g. 'int64') to make it required."
            )
        value = arr.reshape(-1)[0].item() if arr.dtype != object else arr.reshape(-1)[0]
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    if isinstance(value, (int, np.integer)):
        if isinstance(value, np.integer):
            return np.dtype(type(value)).name if np.dtype(type(value)).name in _NUMPY else "int64", int(value)
        return ("int32" if -(2**31) <= value < 2**31 else "int64"), int(value)
    if isinstance(value, (float, np.floating)):
        return ("float64" if isinstance(value, np.float64) else "float32"), float(value)
    if isinstance(value, (str, bytes)):
        return "string", value.decode() if isinstance(value, bytes) else value
    raise InvalidArgumentError(
        f"column_defaults[{index}] (column {name!r}) must be a default value (int, float, str) or a dtype "
        f"('int32', 'int64', 'float32', 'float64', 'string'); received {value!r}."
    )


def _open_text(path: str, compression: str) -> io.TextIOBase:
    if compression == "GZIP":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    if compression == "ZLIB":
        with open(path, "rb") as f:
            return io.StringIO(zlib.decompress(f.read()).decode("utf-8"), newline="")
    return open(path, encoding="utf-8", newline="")


def _csv_reader(f: Any, field_delim: str, use_quote_delim: bool) -> Iterator[list[str]]:
    if use_quote_delim:
        return csv.reader(f, delimiter=field_delim, quoting=csv.QUOTE_MINIMAL)
    return csv.reader(f, delimiter=field_delim, quoting=csv.QUOTE_NONE)


def _csv_rows(
    files: list[str], compression: str, field_delim: str, use_quote_delim: bool, header: bool
) -> Iterator[tuple[str, int, list[str]]]:
    for path in files:
        with _open_text(path, compression) as f:
            for line, row in enumerate(_csv_reader(f, field_delim, use_quote_delim), start=1):
                if header and line == 1:
                    continue
                yield path, line, row


def _compression(compression_type: str | None) -> str:
    value = (compression_type or "").upper()
    if value not in ("", "GZIP", "ZLIB"):
        raise InvalidArgumentError(
            f"compression_type must be None, '', 'GZIP' or 'ZLIB'; received {compression_type!r}."
        )
    return value


class _CsvReader:
    """Reads one CSV file into blocks of typed numpy columns (the pipeline's ``read_file``)."""

    def __init__(
        self,
        column_names: list[str],
        selected: list[int],
        dtypes: list[str],
        defaults: list[Any],
        field_delim: str,
        use_quote_delim: bool,
        na_value: str,
        header: bool,
        compression: str,
        ignore_errors: bool,
    ) -> None:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        self.column_names = column_names
        self.selected = selected
        self.dtypes = dtypes
        self.defaults = defaults
        self.header = header
        self.compression = compression
        self.ignore_errors = ignore_errors
        self.na_value = na_value
        self.read_options = pacsv.ReadOptions(
            column_names=column_names, skip_rows=1 if header else 0, use_threads=False, block_size=1 << 20
        )
        self.parse_kwargs = {
            "delimiter": field_delim,
            "quote_char": '"' if use_quote_delim else False,
            "double_quote": True,
            "ignore_empty_lines": True,
        }
        names = [column_names[i] for i in selected]
        self.convert_options = pacsv.ConvertOptions(
            include_columns=names,
            column_types={n: pa.string() for n in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            null_values=[],
        )

    def _stream(self, path: str) -> Any:
        import pyarrow as pa

        if self.compression == "GZIP":
            return pa.input_stream(path, compression="gzip")
        if self.compression == "ZLIB":
            with open(path, "rb") as f:
                return pa.BufferReader(zlib.decompress(f.read()))
        return pa.input_stream(path, compression=None)

    def __call__(self, path: str) -> Iterator[dict[str, np.ndarray]]:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        bad_rows: list[Any] = []

        def on_invalid(row: Any) -> str:
            bad_rows.append(row)
            return "skip" if self.ignore_errors else "error"

        parse_options = pacsv.ParseOptions(invalid_row_handler=on_invalid, **self.parse_kwargs)
        skipped = 0
        emitted = 0  # data rows pyarrow has returned so far

        def line_of(row: int) -> int:
            """The file line of data row ``row`` (rows pyarrow skipped as malformed still occupy lines;
            blank lines, which pyarrow ignores, are not counted)."""
            line = (2 if self.header else 1) + row
            for bad in sorted(r.number for r in bad_rows if r.number is not None):
                if bad <= line:
                    line += 1
            return line

        try:
            reader = pacsv.open_csv(
                self._stream(path), self.read_options, parse_options, self.convert_options
            )
            for batch in reader:
                block, dropped = self._convert(batch, path, functools.partial(_shifted, line_of, emitted))
                emitted += batch.num_rows
                skipped += dropped
                if len(next(iter(block.values()))):
                    yield block
        except pa.ArrowInvalid as err:
            if bad_rows and not self.ignore_errors:
                row = bad_rows[-1]
                raise InputError(
                    f"Malformed CSV row in {path!r} at line {row.number}: expected {row.expected_columns} fields "
                    f"but got {row.actual_columns}: {row.text!r}. Fix the row or pass ignore_errors=True to skip it."
                ) from err
            raise InputError(f"Cannot read CSV file {path!r}: {err}") from err
        skipped += len(bad_rows)
        if skipped:
            _log.warning(
                "make_csv_dataset: skipped %d malformed row(s) of %r (ignore_errors=True).", skipped, path
            )

    def _convert(
        self, batch: pa.RecordBatch, path: str, line_of: Callable[[int], int]
    ) -> tuple[dict[str, np.ndarray], int]:
        import pyarrow as pa
        import pyarrow.compute as pc

        n = batch.num_rows
        keep = np.ones(n, dtype=bool)
        columns: dict[str, np.ndarray] = {}
        for col_index, dtype, default in zip(self.selected, self.dtypes, self.defaults):
            name = self.column_names[col_index]
            text = batch.column(name)
            missing = pc.equal(text, "")
            if self.na_value:
                missing = pc.or_(missing, pc.equal(text, self.na_value))
            missing_np = missing.to_numpy(zero_copy_only=False)
            if default is _REQUIRED and missing_np.any():
                row = int(np.flatnonzero(missing_np & keep)[0]) if (missing_np & keep).any() else -1
                if row >= 0 and not self.ignore_errors:
                    raise InputError(
                        f"CSV column {name!r} (field {col_index}) is required but missing in {path!r} at line "
                        f"{line_of(row)}. Give it a default in column_defaults or fix the data."
                    )
                keep &= ~missing_np
            if dtype == "string":
                values = text.to_numpy(zero_copy_only=False).astype(object)
                if default is not _REQUIRED:
                    values[missing_np] = default
                columns[name] = values
                continue
            filled = pc.if_else(missing, "0", text)
            try:
                values = pc.cast(filled, _arrow_type(dtype)).to_numpy(zero_copy_only=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                bad = self._bad_values(filled, dtype)
                if not self.ignore_errors:
                    row = int(np.flatnonzero(bad)[0])
                    raise InputError(
                        f"CSV column {name!r} (field {col_index}) in {path!r} at line {line_of(row)}: "
                        f"{text[row].as_py()!r} is not a valid {dtype}. Fix the value, set column_defaults to a "
                        "string for this column, or pass ignore_errors=True to skip such rows."
                    ) from None
                keep &= ~bad
                values = pc.cast(pc.if_else(pa.array(bad), "0", filled), _arrow_type(dtype)).to_numpy(
                    zero_copy_only=False
                )
            values = np.array(values, dtype=_NUMPY[dtype])  # a writable copy
            if default is not _REQUIRED:
                values[missing_np] = default
            columns[name] = values
        dropped = int(n - keep.sum())
        if dropped:
            columns = {k: v[keep] for k, v in columns.items()}
        return columns, dropped

    @staticmethod
    def _bad_values(text: pa.Array, dtype: str) -> np.ndarray:
        """Which values do not parse as ``dtype`` (only called once a vectorised cast has failed)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        out = np.zeros(len(text), dtype=bool)
        for i, value in enumerate(text.to_pylist()):
            try:
                pc.cast(pa.array([value]), _arrow_type(dtype))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                out[i] = True
        return out


def _shifted(line_of: Callable[[int], int], offset: int, row: int) -> int:
    return line_of(offset + row)


def _select(column_names: list[str], select_columns: Sequence[str | int] | None) -> list[int]:
    if select_columns is None:
        return list(range(len(column_names)))
    items = list(select_columns)
    if all(isinstance(c, (int, np.integer)) for c in items):
        bad = [c for c in items if not 0 <= int(c) < len(column_names)]
        if bad:
            raise InvalidArgumentError(
                f"select_columns indices {bad} are out of range for {len(column_names)} columns {column_names}."
            )
        return sorted(int(c) for c in items)
    if all(isinstance(c, str) for c in items):
        names = [str(c) for c in items]
        unknown = [c for c in names if c not in column_names]
        if unknown:
            raise InvalidArgumentError(
                f"select_columns names {unknown} are not columns of the file ({column_names})"
                f"{did_you_mean(unknown[0], column_names)}"
            )
        return sorted(column_names.index(c) for c in names)
    raise InvalidArgumentError(f"select_columns must be all names or all indices; received {items!r}.")


def make_csv_dataset(
    file_pattern: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    batch_size: int,
    column_names: Sequence[str] | None = None,
    column_defaults: Sequence[Any] | None = None,
    label_name: str | None = None,
    select_columns: Sequence[str | int] | None = None,
    field_delim: str = ",",
    use_quote_delim: bool = True,
    na_value: str = "",
    header: bool = True,
    num_epochs: int | None = None,
    shuffle: bool = True,
    shuffle_buffer_size: int = 10000,
    shuffle_seed: int | None = None,
    prefetch_buffer_size: int | None = None,
    num_parallel_reads: int | None = None,
    sloppy: bool = False,
    num_rows_for_inference: int | None = 100,
    compression_type: str | None = None,
    ignore_errors: bool = False,
    input_context: InputContext | None = None,
) -> BatchedDataset:
    """Read CSV files into batches of ``(features, label)`` (``tf.data.experimental.make_csv_dataset``).

    Args:
        file_pattern: a file, a glob, or a list of them.
        batch_size: rows per batch (the last partial batch is kept).
        column_names: names of all columns; read from the first file's header when ``None``.
        column_defaults: one default (or dtype, for a required column) per selected column; inferred
            when ``None`` (see the module docstring).
        label_name: a column to return separately as the label.
        select_columns: names or indices of the columns to keep.
        field_delim: the field separator.
        use_quote_delim: treat ``"`` as a quote character (``""`` escapes a quote).
        na_value: an extra string meaning "missing" (the empty field always does).
        header: the files start with a header line (skipped).
        num_epochs: passes over the data; ``None`` repeats forever (TF's default).
        shuffle: shuffle file order and rows (TF's default is True).
        shuffle_buffer_size: rows in the shuffle buffer.
        shuffle_seed: seed for reproducible shuffling.
        prefetch_buffer_size: batches prepared ahead in a background thread (``None`` → 2, 0 disables).
        num_parallel_reads: accepted for TF compatibility; files are read one after another (values > 1
            would interleave files in TF; here they only affect nothing).
        sloppy: accepted for TF compatibility (order is always deterministic).
        num_rows_for_inference: rows used to infer types (``None`` reads everything).
        compression_type: ``None`` / ``""``, ``"GZIP"`` or ``"ZLIB"``.
        ignore_errors: skip malformed rows and unparsable values instead of raising.
        input_context: shard the data for this input pipeline (see :mod:`torchestimator.inputs.pipeline`).

    Returns:
        A re-iterable dataset; each ``iter()`` starts over and yields ``(features, label)`` or ``features``
        where ``features`` is a dict of 1-D numpy arrays.

    Raises:
        InvalidArgumentError: bad arguments (unknown columns, no files, no header to name columns, ...).
        InputError: while iterating, a malformed row or value (naming the file and line).

    Example:
        >>> ds = make_csv_dataset("data/titanic/train.csv", 32, label_name="survived", num_epochs=1)  # doctest: +SKIP
        >>> features, label = next(iter(ds))  # doctest: +SKIP
    """
    del num_parallel_reads, sloppy  # documented as accepted for compatibility
    compression = _compression(compression_type)
    files = expand_file_pattern(file_pattern, shuffle)
    if column_names is None:
        if not header:
            raise InvalidArgumentError(
                "column_names must be given when header=False (there is no header line)."
            )
        with _open_text(files[0], compression) as f:
            first = next(_csv_reader(f, field_delim, use_quote_delim), None)
        if not first:
            raise InvalidArgumentError(
                f"Cannot read column names from the header of {files[0]!r}: the file is empty."
            )
        names = list(first)
    else:
        names = [str(c) for c in column_names]
    if len(set(names)) != len(names):
        raise InvalidArgumentError(f"column_names must be unique; received {names}.")
    selected = _select(names, select_columns)
    if column_defaults is not None:
        if len(column_defaults) != len(selected):
            raise InvalidArgumentError(
                f"column_defaults has {len(column_defaults)} entries but {len(selected)} columns are selected "
                f"({[names[i] for i in selected]}); give one default (or dtype) per selected column."
            )
        parsed = [_parse_default(i, names[c], d) for i, (c, d) in enumerate(zip(selected, column_defaults))]
    else:
        parsed = _infer_defaults(
            files,
            names,
            selected,
            compression,
            field_delim,
            use_quote_delim,
            na_value,
            header,
            num_rows_for_inference,
            ignore_errors,
        )
    dtypes = [p[0] for p in parsed]
    defaults = [p[1] for p in parsed]
    selected_names = [names[i] for i in selected]
    if label_name is not None and label_name not in selected_names:
        raise InvalidArgumentError(
            f"label_name {label_name!r} must be one of the selected columns {selected_names}"
            f"{did_you_mean(label_name, selected_names)}"
        )
    reader = _CsvReader(
        names,
        selected,
        dtypes,
        defaults,
        field_delim,
        use_quote_delim,
        na_value,
        header,
        compression,
        ignore_errors,
    )

    def finalize(block: dict[str, np.ndarray]) -> Any:
        features = dict(block)
        if label_name is None:
            return features
        label = features.pop(label_name)
        return features, label

    return BatchedDataset(
        files,
        reader,
        batch_size,
        finalize,
        num_epochs=num_epochs,
        shuffle=shuffle,
        shuffle_buffer_size=shuffle_buffer_size,
        shuffle_seed=shuffle_seed,
        input_context=input_context,
        prefetch_buffer_size=2 if prefetch_buffer_size is None else prefetch_buffer_size,
    )


def _infer_defaults(
    files: list[str],
    names: list[str],
    selected: list[int],
    compression: str,
    field_delim: str,
    use_quote_delim: bool,
    na_value: str,
    header: bool,
    num_rows: int | None,
    ignore_errors: bool,
) -> list[tuple[str, Any]]:
    ranks: list[int | None] = [None] * len(selected)
    for seen, (path, line, row) in enumerate(
        _csv_rows(files, compression, field_delim, use_quote_delim, header)
    ):
        if num_rows is not None and seen >= num_rows:
            break
        if not row:
            continue
        if len(row) != len(names):
            if ignore_errors:
                continue
            raise InputError(
                f"Malformed CSV row in {path!r} at line {line}: expected {len(names)} fields but got {len(row)} "
                f"(while inferring column types of {names}). Fix the row or pass ignore_errors=True to skip it."
            )
        for j, col in enumerate(selected):
            text = row[col]
            if text in ("", na_value):
                continue
            rank = _value_rank(text)
            previous = ranks[j]
            ranks[j] = rank if previous is None else max(previous, rank)
    out: list[tuple[str, Any]] = []
    for column_rank in ranks:
        dtype = _TYPE_ORDER[4 if column_rank is None else column_rank]
        out.append((dtype, "" if dtype == "string" else 0))
    return out
