"""TensorFlow-exact hashing on the host: FarmHash ``Fingerprint64`` and ``FingerprintCat64``.

* ``categorical_column_with_hash_bucket`` and vocabulary OOV buckets: ``Fingerprint64(bytes) mod n``
  (TF ``StringToHashBucketFast``); integers are hashed as their base-10 text (TF ``as_string``).
* ``crossed_column``: ``h = hash_key`` (default ``0xDECAFCAFFE``), then ``h = FingerprintCat64(h, f_i)``
  for each input in order, where ``f_i`` is ``Fingerprint64`` of a string value and the raw integer
  (as uint64, not fingerprinted) of an int value; the id is ``h mod hash_bucket_size``.

Repeated values are hashed once: fingerprints are memoised in a process-wide dict (bounded), and the
batch is mapped through it with a C-level ``map`` so a Zipf-distributed batch costs one dict lookup
per value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import farmhash
import numpy as np

__all__ = ["DEFAULT_HASH_KEY", "fingerprint64", "fingerprint_cat64", "hash_bucket"]

DEFAULT_HASH_KEY = 0xDECAFCAFFE  # sparse_ops._DEFAULT_HASH_KEY
_K_MUL = np.uint64(0xC6A4A7935BD1E995)
_SHIFT = np.uint64(47)
_MAX_CACHE = 1 << 21  # entries; cleared (not evicted one by one) when exceeded


class _FingerprintCache(dict):
    """value -> Fingerprint64 (python int); ints and bytes/str hash as TF would see them."""

    def __missing__(self, key: Any) -> int:
        if isinstance(key, (int, np.integer)):
            fp = farmhash.fingerprint64(str(int(key)))
        else:
            fp = farmhash.fingerprint64(key)
        self[key] = fp
        return int(fp)


_FP_CACHE = _FingerprintCache()


def fingerprint64(values: Iterable[Any], count: int = -1) -> np.ndarray:
    """FarmHash Fingerprint64 of every value (str / bytes / int as decimal text).

    Args:
        values: the values; a numpy object/int array or any iterable.
        count: the number of values, when known (faster).

    Returns:
        A uint64 array of fingerprints.

    Example:
        >>> int(fingerprint64(["Hello"])[0] % 3)
        0
    """
    if len(_FP_CACHE) > _MAX_CACHE:
        _FP_CACHE.clear()
    if isinstance(values, np.ndarray):
        count = values.size
        values = values.ravel().tolist() if values.dtype.kind in "iu" else values.ravel()
    return np.fromiter(map(_FP_CACHE.__getitem__, values), dtype=np.uint64, count=count)


def hash_bucket(values: Iterable[Any], num_buckets: int, count: int = -1) -> np.ndarray:
    """``Fingerprint64(value) mod num_buckets`` as int64 (TF ``StringToHashBucketFast``).

    Example:
        >>> hash_bucket(["Hello", "TensorFlow", "2.x"], 3).tolist()
        [0, 2, 2]
    """
    return (fingerprint64(values, count) % np.uint64(num_buckets)).astype(np.int64)


def _shift_mix(v: np.ndarray) -> np.ndarray:
    return v ^ (v >> _SHIFT)


def fingerprint_cat64(fp1: np.ndarray, fp2: np.ndarray) -> np.ndarray:
    """TF's ``FingerprintCat64(fp1, fp2)`` elementwise on uint64 arrays (not commutative)."""
    with np.errstate(over="ignore"):
        r = fp1 ^ _K_MUL
        r = r ^ (_shift_mix(fp2 * _K_MUL) * _K_MUL)
        r = r * _K_MUL
        r = _shift_mix(r) * _K_MUL
        return _shift_mix(r)
