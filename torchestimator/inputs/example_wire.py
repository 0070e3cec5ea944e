"""The bytes of the vectorised Example decoder: length varints, ranges, unaligned views, spec keys, plans.

Shared by :mod:`torchestimator.inputs.example_fast` (walking the wire format) and
:mod:`torchestimator.inputs.example_values` (decoding and assembling the values).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from torchestimator.inputs.example_spec import WIRE, size_of
from torchestimator.parsing import FixedLenFeature, VarLenFeature

__all__ = [
    "BYTE_MASKS",
    "HASH_WEIGHTS",
    "KIND",
    "Plan",
    "SpecKeys",
    "at_every_byte",
    "lengths_at",
    "pack_keys",
    "plan_for",
    "ranges",
]

# spec dtype -> wire kind number: 1 float_list, 2 int64_list, 3 bytes_list
KIND = {dtype: {"float": 1, "int64": 2, "bytes": 3}[kind] for dtype, (kind, _) in WIRE.items()}
HASH_WEIGHTS = np.random.default_rng(0x7E57).integers(1, 2**63, size=4096, dtype=np.uint64) | np.uint64(1)


def lengths_at(buf: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray | int] | None:
    """Decode the length varint at each position: ``(values int64, byte counts)``.

    ``None`` if a varint is longer than 10 bytes or its value exceeds the buffer (no length can).
    """
    first = buf[pos]
    if not first.size or first.max() < 0x80:  # the common case: every length below 128, one byte each
        return first.astype(np.int64), 1
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
    if value.max() > len(buf):
        return None
    return value.astype(np.int64), nbytes


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


BYTE_MASKS = np.asarray([(1 << (8 * i)) - 1 for i in range(8)] + [2**64 - 1], dtype=np.uint64)


def at_every_byte(buf: np.ndarray, dtype: str) -> np.ndarray:
    """A view of ``buf`` with one (unaligned) ``dtype`` value starting at every byte offset.

    ``view[i]`` is the value stored in ``buf[i:i + itemsize]``: gathers of fixed-width fields take one
    fancy index instead of one per byte.
    """
    itemsize = np.dtype(dtype).itemsize
    return np.ndarray((len(buf) - itemsize + 1,), dtype=dtype, buffer=buf, strides=(1,))


def pack_keys(buf: np.ndarray, ks: np.ndarray, klen: np.ndarray, n_words: int) -> np.ndarray:
    """``(E, n_words)`` uint64: each key's first ``8 * n_words`` bytes, zero past its length."""
    at = at_every_byte(buf, "<u8")
    if n_words == 1:
        return (at[ks] & BYTE_MASKS[np.minimum(klen, 8)])[:, None]
    words = np.empty((len(ks), n_words), dtype=np.uint64)
    for w in range(n_words):
        words[:, w] = at[ks + 8 * w] & BYTE_MASKS[np.clip(klen - 8 * w, 0, 8)]
    return words


@dataclasses.dataclass(frozen=True)
class Plan:
    """What :func:`parse_records` needs from a spec, worked out once per spec.

    Attributes:
        names: the spec's keys, in order.
        features: the spec's features, in order.
        keys: the names packed for matching.
        spec_kind: (K,) int64 wire kind of each key.
        groups: ``(kind, size, key ids)`` of the ``FixedLenFeature`` keys, grouped so one gather
            serves all keys of a group.
        varlen: key ids of the ``VarLenFeature`` keys.
    """

    names: tuple[str, ...]
    features: tuple[Any, ...]
    keys: SpecKeys
    spec_kind: np.ndarray
    groups: tuple[tuple[int, int, np.ndarray], ...]
    varlen: tuple[int, ...]


_PLANS: dict[tuple[Any, ...], Plan] = {}


def plan_for(features: Mapping[str, Any]) -> Plan:
    """The spec's plan, cached while the spec is hashable (a list or array default is not: then rebuilt)."""
    signature = tuple(features.items())
    try:
        plan = _PLANS.get(signature)
    except TypeError:  # an unhashable default_value
        signature, plan = (), None
    if plan is not None:
        return plan
    names = tuple(features)
    spec_kind = np.asarray([KIND[features[k].dtype] for k in names], dtype=np.int64)
    grouped: dict[tuple[int, int], list[int]] = {}
    for j, key in enumerate(names):
        if isinstance(features[key], FixedLenFeature):
            grouped.setdefault((int(spec_kind[j]), size_of(features[key].shape)), []).append(j)
    plan = Plan(
        names=names,
        features=tuple(features.values()),
        keys=SpecKeys.get(names),
        spec_kind=spec_kind,
        groups=tuple((kind, size, np.asarray(ids)) for (kind, size), ids in grouped.items()),
        varlen=tuple(j for j, key in enumerate(names) if isinstance(features[key], VarLenFeature)),
    )
    if signature:
        if len(_PLANS) >= 64:
            _PLANS.clear()
        _PLANS[signature] = plan
    return plan
