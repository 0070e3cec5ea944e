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

Type inference and ``column_defaults`` parsing live in :mod:`torchestimator.inputs.csv_types`, the
file readers in :mod:`torchestimator.inputs.csv_reader`; this module checks the arguments and builds
the dataset.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from torchestimator.errors import InvalidArgumentError, did_you_mean
from torchestimator.inputs.csv_reader import CsvReader, csv_compression, read_header
from torchestimator.inputs.csv_types import infer_defaults, parse_default
from torchestimator.inputs.pipeline import BatchedDataset, expand_file_pattern
from torchestimator.parallel.input_context import InputContext

__all__ = ["make_csv_dataset"]


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
    compression = csv_compression(compression_type)
    files = expand_file_pattern(file_pattern, shuffle)
    if column_names is None:
        if not header:
            raise InvalidArgumentError(
                "column_names must be given when header=False (there is no header line)."
            )
        first = read_header(files[0], compression, field_delim, use_quote_delim)
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
        parsed = [parse_default(i, names[c], d) for i, (c, d) in enumerate(zip(selected, column_defaults))]
    else:
        parsed = infer_defaults(
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
    reader = CsvReader(
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
