"""Vectorised host transforms for runs of same-kind columns (one numpy pass instead of one per column).

The per-column path (:meth:`FeatureColumn.transform` through a :class:`TransformCache`) is general:
ragged input, tensors, strings, missing markers, normalizers. Most batches of a click-log model are
simpler: ``k`` single-valued numeric features and ``k`` single-valued integer ids, each a 1-D numpy
array. For those, the layers call these helpers, which give bit-identical results::

    numeric  x k  (B,) or (B, 1) numbers, no normalizer_fn    -> np.stack -> float32 (B, k)
    hashed   x k  (B,) or (B, 1) ints in [0, memo limit)      -> one Fingerprint64 memo lookup over
                                                                 the (B, k) matrix, mod (k,) sizes

A column whose raw value does not qualify (a tensor, a ragged or multivalent feature, a missing
``-1`` id, a negative or huge id) is simply left to the per-column path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from torchestimator.columns.categorical import HashedCategoricalColumn
from torchestimator.columns.hashing import INT_MEMO, INT_MEMO_LIMIT
from torchestimator.columns.numeric import NumericColumn

__all__ = ["single_valued", "stacked_hash_ids", "stacked_numeric"]


def single_valued(features: Mapping[str, Any], key: str, kinds: str) -> np.ndarray | None:
    """``features[key]`` as a ``(B,)`` numpy view when it is a ``(B,)`` / ``(B, 1)`` array of ``kinds``.

    Args:
        features: the raw batch.
        key: the feature key.
        kinds: accepted numpy dtype kinds, e.g. ``"iu"``.

    Returns:
        The 1-D array, or None (absent, not numpy, another dtype or shape: use the per-column path).
    """
    raw = features.get(key)
    if not isinstance(raw, np.ndarray) or raw.dtype.kind not in kinds:
        return None
    if raw.ndim == 1:
        return raw
    if raw.ndim == 2 and raw.shape[1] == 1:
        return raw[:, 0]
    return None


def stacked_numeric(columns: Sequence[Any], features: Mapping[str, Any]) -> dict[int, np.ndarray] | None:
    """float32 ``(B,)`` values of the plain single-valued numeric columns among ``columns``, by position.

    A plain numeric column has ``shape (1,)`` and no ``normalizer_fn``; its float32 value is the
    raw number cast once (as ``NumericColumn.transform`` does). Columns that do not qualify are absent.

    Returns:
        ``{position: (B,) float32}``, or None when none qualifies.
    """
    out: dict[int, np.ndarray] = {}
    for i, col in enumerate(columns):
        if type(col) is NumericColumn and col.normalizer_fn is None and col.shape == (1,):
            raw = single_valued(features, col.key, "fiub")
            if raw is not None:
                out[i] = raw.astype(np.float32, copy=False)
    return out or None


def stacked_hash_ids(
    columns: Sequence[Any], features: Mapping[str, Any]
) -> tuple[list[int], np.ndarray] | None:
    """Bucket ids of the single-valued int64 hash-bucket columns among ``columns``, in one pass.

    Args:
        columns: categorical columns (the ones the layer looks up, in slot order).
        features: the raw batch.

    Returns:
        ``(positions, ids (B, len(positions)) int64)`` for the qualifying columns (all of one batch
        size, every id in ``[0, memo limit)``), or None when none qualifies.
    """
    positions: list[int] = []
    arrays: list[np.ndarray] = []
    sizes: list[int] = []
    for i, col in enumerate(columns):
        if type(col) is not HashedCategoricalColumn or col.dtype != "int64":
            continue
        raw = single_valued(features, col.key, "iu")
        if raw is None or (arrays and raw.shape[0] != arrays[0].shape[0]):
            continue
        positions.append(i)
        arrays.append(raw)
        sizes.append(col.hash_bucket_size)
    if not arrays or arrays[0].size == 0:
        return None
    values = np.stack(arrays, axis=1).astype(np.int64, copy=False)  # (B, k)
    if int(values.min()) < 0 or int(values.max()) >= INT_MEMO_LIMIT:
        return None  # missing (-1) or out-of-memo ids: the per-column path handles them
    fingerprints = INT_MEMO.lookup(values.reshape(-1)).reshape(values.shape)  # (B, k) uint64
    ids = (fingerprints % np.asarray(sizes, dtype=np.uint64)).astype(np.int64)  # (B, k)
    return positions, ids
