"""Reading CSV files for ``make_csv_dataset``: text rows (stdlib ``csv``) and typed numpy blocks (pyarrow).

:func:`csv_rows` walks the rows of (GZIP / ZLIB compressed) files with Python's ``csv`` module; the
header and type inference (:mod:`torchestimator.inputs.csv_types`) read through it. :class:`CsvReader`
is the dataset's ``read_file``: it reads one file with pyarrow's CSV reader into blocks of typed numpy
columns, filling missing values (empty or ``na_value``) with the column defaults, and raises
:class:`~torchestimator.errors.InputError` naming the file and line on a malformed row, a missing
required value or a value that does not parse (with ``ignore_errors=True`` such rows are skipped and
counted in one log line per file).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gzip
import io
import logging
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from torchestimator.errors import InputError, InvalidArgumentError

# The logger keeps the name it had before this module was split out of csv_dataset.py.
_log = logging.getLogger("torchestimator.inputs.csv_dataset")
if TYPE_CHECKING:
    import pyarrow as pa


def _arrow_type(dtype: str) -> pa.DataType:
    import pyarrow as pa  # imported on first use: pyarrow.compute alone costs ~0.1 s at import

    return getattr(pa, dtype)()


NUMPY_DTYPES = {"int32": np.int32, "int64": np.int64, "float32": np.float32, "float64": np.float64}
REQUIRED = object()  # marker: the column has no default


def open_text(path: str, compression: str) -> io.TextIOBase:
    if compression == "GZIP":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    if compression == "ZLIB":
        with open(path, "rb") as f:
            return io.StringIO(zlib.decompress(f.read()).decode("utf-8"), newline="")
    return open(path, encoding="utf-8", newline="")


def csv_line_reader(f: Any, field_delim: str, use_quote_delim: bool) -> Iterator[list[str]]:
    if use_quote_delim:
        return csv.reader(f, delimiter=field_delim, quoting=csv.QUOTE_MINIMAL)
    return csv.reader(f, delimiter=field_delim, quoting=csv.QUOTE_NONE)


# What reading a hostile or damaged file raises below us: bad UTF-8, a csv module error (a field over
# its size limit), a corrupt GZIP / ZLIB stream, an unreadable file.
_READ_ERRORS = (UnicodeDecodeError, csv.Error, zlib.error, EOFError, OSError)


@contextlib.contextmanager
def _read_errors(path: str, compression: str) -> Iterator[None]:
    """Re-raise a low-level read failure of ``path`` as an :class:`InputError` naming the file."""
    try:
        yield
    except _READ_ERRORS as err:
        raise InputError(
            f"Cannot read CSV file {path!r} ({compression or 'no compression'}): {type(err).__name__}: {err}. "
            "CSV files must be UTF-8 text; pass compression_type if the file is compressed."
        ) from err


def read_header(path: str, compression: str, field_delim: str, use_quote_delim: bool) -> list[str] | None:
    """The first row of ``path`` (its column names), or None for an empty file.

    Raises:
        InputError: the file cannot be read or decoded.
    """
    with _read_errors(path, compression), open_text(path, compression) as f:
        return next(csv_line_reader(f, field_delim, use_quote_delim), None)


def csv_rows(
    files: list[str], compression: str, field_delim: str, use_quote_delim: bool, header: bool
) -> Iterator[tuple[str, int, list[str]]]:
    for path in files:
        with _read_errors(path, compression), open_text(path, compression) as f:
            for line, row in enumerate(csv_line_reader(f, field_delim, use_quote_delim), start=1):
                if header and line == 1:
                    continue
                yield path, line, row


def csv_compression(compression_type: str | None) -> str:
    value = (compression_type or "").upper()
    if value not in ("", "GZIP", "ZLIB"):
        raise InvalidArgumentError(
            f"compression_type must be None, '', 'GZIP' or 'ZLIB'; received {compression_type!r}."
        )
    return value


class CsvReader:
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

        stream = reader = None
        try:
            stream = self._stream(path)
            reader = pacsv.open_csv(stream, self.read_options, parse_options, self.convert_options)
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
        except _READ_ERRORS as err:
            raise InputError(
                f"Cannot read CSV file {path!r} ({self.compression or 'no compression'}): "
                f"{type(err).__name__}: {err}."
            ) from err
        finally:  # an abandoned reader's readahead thread can abort the interpreter at exit
            if reader is not None:
                reader.close()
            if stream is not None:
                stream.close()
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
            if default is REQUIRED and missing_np.any():
                row = int(np.flatnonzero(missing_np & keep)[0]) if (missing_np & keep).any() else -1
                if row >= 0 and not self.ignore_errors:
                    raise InputError(
                        f"CSV column {name!r} (field {col_index}) is required but missing in {path!r} at line "
                        f"{line_of(row)}. Give it a default in column_defaults or fix the data."
                    )
                keep &= ~missing_np
            if dtype == "string":
                values = text.to_numpy(zero_copy_only=False).astype(object)
                if default is not REQUIRED:
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
            values = np.array(values, dtype=NUMPY_DTYPES[dtype])  # a writable copy
            if default is not REQUIRED:
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
