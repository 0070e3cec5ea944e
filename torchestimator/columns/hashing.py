"""TensorFlow-exact hashing on the host: FarmHash ``Fingerprint64`` and ``FingerprintCat64``.

* ``categorical_column_with_hash_bucket`` and vocabulary OOV buckets: ``Fingerprint64(bytes) mod n``
  (TF ``StringToHashBucketFast``); integers are hashed as their base-10 text (TF ``as_string``).
* ``crossed_column``: ``h = hash_key`` (default ``0xDECAFCAFFE``), then ``h = FingerprintCat64(h, f_i)``
  for each input in order, where ``f_i`` is ``Fingerprint64`` of a string value and the raw integer
  (as uint64, not fingerprinted) of an int value; the id is ``h mod hash_bucket_size``.

Repeated values are hashed once. Non-negative integers below ``INT_MEMO_LIMIT`` (the common case:
ids from logs) go through a vectorised memo table: ``memo[values]`` in numpy, hashing only values
never seen before. Other values are memoised in a process-wide dict (bounded), and the batch is
mapped through it with a C-level ``map``, so a Zipf-distributed batch costs one dict lookup per value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import farmhash
import numpy as np

__all__ = [
    "DEFAULT_HASH_KEY",
    "INT_MEMO",
    "INT_MEMO_LIMIT",
    "fingerprint64",
    "fingerprint_cat64",
    "hash_bucket",
]

DEFAULT_HASH_KEY = 0xDECAFCAFFE  # sparse_ops._DEFAULT_HASH_KEY
_K_MUL = np.uint64(0xC6A4A7935BD1E995)
_SHIFT = np.uint64(47)
_MAX_CACHE = 1 << 21  # entries; cleared (not evicted one by one) when exceeded
INT_MEMO_LIMIT = 1 << 24  # ints in [0, limit) use the array memo (at most 128 MiB + 16 MiB when full)


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


class _IntMemo:
    """Fingerprint64 of small non-negative ints as TF hashes them (decimal text), in growable arrays."""

    def __init__(self) -> None:
        self.fp = np.zeros(0, dtype=np.uint64)
        self.known = np.zeros(0, dtype=bool)

    def lookup(self, v: np.ndarray) -> np.ndarray:
        top = int(v.max()) + 1
        if top > self.fp.size:
            size = min(max(top, 2 * self.fp.size, 1024), INT_MEMO_LIMIT)
            self.fp = np.concatenate([self.fp, np.zeros(size - self.fp.size, dtype=np.uint64)])
            self.known = np.concatenate([self.known, np.zeros(size - self.known.size, dtype=bool)])
        missing = ~self.known[v]
        if missing.any():
            new = np.unique(v[missing])
            self.fp[new] = np.fromiter(
                (farmhash.fingerprint64(str(x)) for x in new.tolist()), dtype=np.uint64, count=new.size
            )
            self.known[new] = True
        return self.fp[v]


INT_MEMO = _IntMemo()


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
        if values.dtype.kind in "iu":
            flat = values.ravel()
            if count and int(flat.min()) >= 0 and int(flat.max()) < INT_MEMO_LIMIT:
                return INT_MEMO.lookup(flat.astype(np.int64, copy=False))
            values = flat.tolist()
        else:
            values = values.ravel()
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
    """TF's ``FingerprintCat64(fp1, fp2)`` elementwise on uint64 arrays (not commutative).

    Integer ufuncs on arrays wrap modulo 2**64 without a warning (numpy scalars would warn, with the
    same values), so no ``errstate``: entering and leaving it cost as much as the arithmetic for one example.
    """
    r = fp1 ^ _K_MUL
    r = r ^ (_shift_mix(fp2 * _K_MUL) * _K_MUL)
    r = r * _K_MUL
    r = _shift_mix(r) * _K_MUL
    return _shift_mix(r)
