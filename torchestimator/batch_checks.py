"""Checks on one host batch, so bad input fails at the batch that carries it, with its name.

TF lets a NaN label, weight or feature flow into the loss and reports "NaN loss during training"
with no cause; torch broadcasts mismatched batch sizes or fails deep inside a layer. The host stage
runs :func:`check_batch` on every batch before anything reaches the model::

    batch i ─► sizes agree?  (every feature and label: same leading dimension, not 0)   InputError
            ─► labels NaN?                                                              InputError
            ─► weight_column values < 0 or NaN?                                         InvalidArgumentError
            ─► float features NaN?  (except those a normalizer_fn may impute)            FeatureError

Each check is one vectorised pass: a NaN test is a ``min`` reduction (NaN iff any element is NaN;
only then is an exact ``isnan`` count paid for). Tensors already on an accelerator are
not read (that would sync the device every step); the NaN-loss guard reports them instead
(:func:`describe_non_finite`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import torch

from torchestimator.errors import FeatureError, InputError, InvalidArgumentError
from torchestimator.parsing import Ragged

__all__ = [
    "batch_size",
    "check_batch",
    "describe_bad_weights",
    "describe_non_finite",
    "float_values",
    "nan_count",
    "refuse_nan",
]


def float_values(value: Any) -> np.ndarray | torch.Tensor | None:
    """The floating-point values of a batch value, as numpy (or a torch tensor numpy cannot hold).

    Returns None for non-float values, for tensors on an accelerator, and for anything else the
    checks do not read (strings, objects, scalars). Ordered for the common case (a CPU tensor or a
    numpy array): this runs for every feature of every batch.
    """
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point() or not value.is_cpu or value.layout != torch.strided:
            return None
        if value.dtype == torch.bfloat16:
            return value.detach()
        return value.numpy() if not value.requires_grad else value.detach().numpy()
    if isinstance(value, np.ndarray):
        return value if value.dtype.kind == "f" else None
    if isinstance(value, Ragged):
        return float_values(value.values)
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], float):
        arr = np.asarray(value)
        return arr if arr.dtype.kind == "f" else None
    return None


def nan_count(value: Any) -> int:
    """Number of NaN elements in ``value`` (0 for values :func:`float_values` does not read)."""
    values = float_values(value)
    if values is None:
        return 0
    if isinstance(values, torch.Tensor):  # bfloat16, which numpy cannot hold
        return int(torch.isnan(values).sum())
    low = np.minimum.reduce(values, axis=None)  # NaN iff any element is: one SIMD pass, no mask
    if low == low:
        return 0
    return int(np.count_nonzero(np.isnan(values)))


def _first_nan_row(value: Any) -> int | None:
    values = float_values(value)
    if values is None:
        return None
    mask = torch.isnan(values) if isinstance(values, torch.Tensor) else np.isnan(values)
    if isinstance(value, Ragged):
        flat = int(np.flatnonzero(np.asarray(mask))[0])
        return int(np.searchsorted(value.row_splits, flat, side="right") - 1)
    rows = np.asarray(mask).reshape(mask.shape[0], -1).any(axis=1) if mask.ndim else np.asarray([bool(mask)])
    return int(np.flatnonzero(rows)[0])


def refuse_nan(values: Any, what: str) -> None:
    """Raise a :class:`FeatureError` when ``values`` (a float array or CPU tensor) holds NaN.

    Args:
        values: the values to check.
        what: what they are, e.g. ``"bucketized_column 'age_bucketized': feature 'age'"``.

    Raises:
        FeatureError: ``"<what> has N NaN values (first in row r); ..."``.
    """
    count = nan_count(values)
    if count:
        row = _first_nan_row(values)
        where = f" (first in row {row})" if row is not None else ""
        raise FeatureError(
            f"{what} has {count} NaN value{'s' if count > 1 else ''}{where}" + _NAN_FEATURE_HINT
        )


def batch_size(value: Any) -> int | None:
    """The leading (batch) dimension of a batch value; None for scalars and unknown types."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return len(value) if value.ndim else None
    if isinstance(value, Ragged):
        return len(value.row_splits) - 1
    if isinstance(value, (list, tuple)):
        return len(value)
    return None


def describe_bad_weights(weights: Any) -> str | None:
    """``"2 negative values (min -1) and 1 NaN value"`` for weights that are negative or NaN, else None.

    Example:
        >>> describe_bad_weights(np.array([1.0, -2.0, float("nan")]))
        '1 negative value (min -2) and 1 NaN value'
        >>> describe_bad_weights(np.array([0.0, 3.0])) is None
        True
    """
    if isinstance(weights, torch.Tensor):
        if weights.device.type != "cpu" or weights.numel() == 0:
            return None
        w = weights.detach().double().numpy()
    elif isinstance(weights, (np.ndarray, list, tuple)):
        w = np.asarray(weights)
        if w.size == 0 or w.dtype.kind not in "fiu":
            return None
    else:
        return None
    low = np.min(w)  # NaN if any is NaN: one pass in the common, valid case
    if low >= 0:
        return None
    nans = int(np.count_nonzero(np.isnan(w))) if w.dtype.kind == "f" else 0
    negative = w[w < 0]
    parts = []
    if negative.size:
        plural = "s" if negative.size > 1 else ""
        parts.append(f"{negative.size} negative value{plural} (min {float(negative.min()):g})")
    if nans:
        parts.append(f"{nans} NaN value{'s' if nans > 1 else ''}")
    return " and ".join(parts)


def _parts(values: Any, kind: str) -> list[tuple[str, Any, Any]]:
    """``[(kind, key, value)]``: a dict's items, or one ``(kind, None, values)``; none for None."""
    if values is None:
        return []
    if type(values) is dict or isinstance(values, Mapping):
        return [(kind, k, v) for k, v in values.items()]
    return [(kind, None, values)]


def _name(kind: str, key: Any) -> str:
    """``feature 'x'``, ``features``, ``labels['y']`` or ``labels`` (built only for a message)."""
    if kind == "feature":
        return "features" if key is None else f"feature {key!r}"
    return "labels" if key is None else f"labels[{key!r}]"


def _size_error(parts: list[tuple[str, Any, Any]], sizes: list[int | None], index: int) -> InputError:
    """The error for sizes that disagree (naming both) or are all 0."""
    listed = [(kind, key, size) for (kind, key, _), size in zip(parts, sizes) if size is not None]
    # the labels are the reference when present: "feature 'x' has 3 rows but labels has 4"
    ref = next((s for s in listed if s[0] == "labels"), listed[0])
    for kind, key, size in listed:
        if size != ref[2]:
            name = _name(kind, key)
            return InputError(
                f"batch {index}: {name} has {size} rows but {_name(ref[0], ref[1])} has {ref[2]}; every "
                "feature and the labels must share the leading (batch) dimension. Check how the input_fn "
                f"batches {name}."
            )
    return InputError(
        f"batch {index} is empty (0 rows); an input_fn must not yield empty batches (one would count "
        "as a training step). Drop empty batches in the input_fn."
    )


def _nan_message(index: int, name: str, value: Any, count: int) -> str:
    row = _first_nan_row(value)
    where = f" (first in row {row})" if row is not None else ""
    plural = "s" if count > 1 else ""
    return f"batch {index}: {name} has {count} NaN value{plural}{where}"


def check_batch(
    features: Any,
    labels: Any,
    index: int,
    weight_keys: Collection[str] = (),
    nan_exempt_keys: Collection[str] = (),
) -> None:
    """Validate one raw batch; see the module docstring for the checks and their order.

    Args:
        features: the batch's features (a dict, or a single tensor / array).
        labels: its labels (None, a tensor / array / list, or a dict of them).
        index: the batch's position in the input (0-based), named in every error.
        weight_keys: features that are a head's ``weight_column`` (checked for negative and NaN values).
        nan_exempt_keys: float features a ``normalizer_fn`` reads (it may impute NaN; the column
            checks its output instead).

    Raises:
        InputError: an empty batch, batch sizes that disagree, NaN labels.
        InvalidArgumentError: a negative or NaN weight.
        FeatureError: a NaN in a float feature.
    """
    feature_parts, label_parts = _parts(features, "feature"), _parts(labels, "labels")
    parts = feature_parts + label_parts
    sizes = [batch_size(value) for _, _, value in parts]
    known = {size for size in sizes if size is not None}
    if known and (len(known) > 1 or 0 in known):
        raise _size_error(parts, sizes, index)
    for kind, key, value in label_parts:
        count = nan_count(value)
        if count:
            raise InputError(
                _nan_message(index, _name(kind, key), value, count) + "; NaN labels would make the loss "
                "NaN. Fix or drop those examples in the input_fn."
            )
    if weight_keys and isinstance(features, Mapping):
        for key in weight_keys:
            problem = describe_bad_weights(features.get(key))
            if problem:
                raise InvalidArgumentError(
                    f"batch {index}: weight_column {key!r} has {problem} among {batch_size(features[key])} "
                    "examples; weights must be >= 0 and not NaN (TF would silently report a weighted "
                    "metric outside its range, e.g. accuracy 2.0). Fix the weight data in the input_fn."
                )
    for kind, key, value in feature_parts:
        if nan_exempt_keys and key in nan_exempt_keys:
            continue
        count = nan_count(value)
        if count:
            raise FeatureError(_nan_message(index, _name(kind, key), value, count) + _NAN_FEATURE_HINT)


_NAN_FEATURE_HINT = (
    "; NaN inputs are refused (TF would pass them on and end in 'NaN loss during training', or put "
    "them in the last bucket of a bucketized_column). Impute them in the input_fn, or in the "
    "numeric_column's normalizer_fn."
)


def describe_non_finite(features: Any, labels: Any) -> str | None:
    """Name the inputs that hold NaN or infinite values (for the NaN-loss error), or None.

    Reads tensors on any device: it runs once, when training has already failed.

    Example:
        >>> describe_non_finite({"x": torch.tensor([1.0, float("inf")])}, torch.zeros(2))
        "feature 'x' has 1 non-finite value"
    """
    found = []
    for kind, key, value in _parts(features, "feature") + _parts(labels, "labels"):
        name = _name(kind, key)
        if isinstance(value, Ragged):
            value = value.values
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not value.is_sparse:
            bad = int((~torch.isfinite(value.detach())).sum())
        elif isinstance(value, np.ndarray) and value.dtype.kind == "f":
            bad = int(np.count_nonzero(~np.isfinite(value)))
        else:
            continue
        if bad:
            found.append(f"{name} has {bad} non-finite value{'s' if bad > 1 else ''}")
    return "; ".join(found) or None
