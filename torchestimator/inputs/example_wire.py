"""Protobuf wire-format primitives for :mod:`torchestimator.inputs.example_fast`, vectorised over records.

Varints decoded for many positions at once, index ranges, map keys packed into uint64 words, and
BytesList payloads split into elements; every function returns ``None`` on anything unusual so the
caller can fall back to the protobuf runtime.
"""

from __future__ import annotations

import numpy as np

__all__ = ["HASH_WEIGHTS", "SpecKeys", "bytes_elements", "pack_keys", "ranges", "varint"]

HASH_WEIGHTS = np.random.default_rng(0x7E57).integers(1, 2**63, size=4096, dtype=np.uint64) | np.uint64(1)


def varint(buf: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Decode the varint at each position: ``(values uint64, byte counts int64)``; ``None`` if too long."""
    first = buf[pos]
    value = (first & 0x7F).astype(np.uint64)
    nbytes = np.ones(len(pos), dtype=np.int64)
    pending = np.flatnonzero(first >= 0x80)
    shift = 7
    while pending.size:
        if shift > 63:
            return None
        b = buf[pos[pending] + nbytes[pending]]
        value[pending] |= (b & 0x7F).astype(np.uint64) << np.uint64(shift)
        nbytes[pending] += 1
        pending = pending[b >= 0x80]
        shift += 7
    return value, nbytes


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + n)`` for every ``(s, n)``."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    excl = np.cumsum(lengths) - lengths
    return np.repeat(starts - excl, lengths) + np.arange(total, dtype=np.int64)


class SpecKeys:
    """The spec's key names packed as :func:`pack_keys` packs keys read from the wire (cached)."""

    _cache: dict[tuple[str, ...], SpecKeys] = {}

    def __init__(self, names: tuple[str, ...]) -> None:
        encoded = [k.encode() for k in names]
        self.n_words = max(1, -(-max(len(b) for b in encoded) // 8))
        width = 8 * self.n_words
        padded = b"".join(b.ljust(width, b"\0")[:width] for b in encoded)
        self.words = np.frombuffer(padded, dtype="<u8").reshape(len(names), self.n_words).copy()
        self.lengths = np.asarray([len(b) for b in encoded], dtype=np.int64)
        if self.n_words == 1:
            self.codes = self.words[:, 0].copy()
        else:
            self.codes = (self.words * HASH_WEIGHTS[: self.n_words]).sum(axis=1, dtype=np.uint64)
        self.order = np.argsort(self.codes, kind="stable")
        self.sorted_codes = self.codes[self.order]

    @classmethod
    def get(cls, names: tuple[str, ...]) -> SpecKeys:
        keys = cls._cache.get(names)
        if keys is None:
            keys = cls._cache[names] = SpecKeys(names)
        return keys


_BYTE_MASKS = np.asarray([(1 << (8 * i)) - 1 for i in range(8)] + [2**64 - 1], dtype=np.uint64)


def pack_keys(buf: np.ndarray, ks: np.ndarray, klen: np.ndarray, n_words: int) -> np.ndarray:
    """``(E, n_words)`` uint64: each key's first ``8 * n_words`` bytes, zero past its length."""
    width = 8 * n_words
    raw = np.lib.stride_tricks.sliding_window_view(buf, width)[ks]  # (E, width) uint8, a copy
    words = raw.view("<u8").reshape(len(ks), n_words)
    for w in range(n_words):
        words[:, w] &= _BYTE_MASKS[np.clip(klen - 8 * w, 0, 8)]
    return words


def bytes_elements(
    buf: np.ndarray, span: bytes, ps: np.ndarray, plen: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Split BytesList payloads (``(0x0a len bytes)*``) into elements, in lockstep across lists.

    Returns ``(counts per list, object array of bytes in list order)`` or ``None`` on anything unusual.
    """
    owner_parts, start_parts, end_parts = [], [], []
    idx = np.arange(len(ps), dtype=np.int64)
    cur = ps.copy()
    end = ps + plen
    while idx.size:
        if np.any(buf[cur] != 0x0A):
            return None
        dec = varint(buf, cur + 1)
        if dec is None:
            return None
        s = cur + 1 + dec[1]
        e = s + dec[0].astype(np.int64)
        if np.any(e > end):
            return None
        owner_parts.append(idx)
        start_parts.append(s)
        end_parts.append(e)
        more = e < end
        idx, cur, end = idx[more], e[more], end[more]
    owner = np.concatenate(owner_parts)
    order = np.argsort(owner, kind="stable")  # list by list, elements in order
    starts = np.concatenate(start_parts)[order].tolist()
    ends = np.concatenate(end_parts)[order].tolist()
    values = np.empty(len(starts), dtype=object)
    values[:] = [span[a:b] for a, b in zip(starts, ends)]
    return np.bincount(owner, minlength=len(ps)).astype(np.int64), values
