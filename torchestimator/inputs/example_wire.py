"""The bytes of the vectorised Example decoder: length varints, ranges, unaligned views, spec keys, plans.

Shared by :mod:`torchestimator.inputs.example_fast` (walking the wire format) and
:mod:`torchestimator.inputs.example_values` (decoding and assembling the values).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
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
    "key_codes",
    "key_words",
    "lengths_at",
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
    long = first >= 0x80
    second = buf[pos + long]  # the next byte where there is one (else the first again: harmless)
    if second.max() < 0x80:  # every length below 16384: at most two bytes (records of a few hundred bytes)
        value = (first & 0x7F).astype(np.int64)
        value[long] |= second[long].astype(np.int64) << 7
        if value.max() > len(buf):
            return None
        return value, long + 1
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
    """The spec's key names as :func:`key_words` reads keys on the wire (cached per tuple of names).

    A key is matched by its length, its first 8 bytes and its last 8 bytes (zero-padded when shorter),
    which determine a key of up to 16 bytes; longer keys are also compared word by word (``words``).
    ``codes`` mixes the three into one uint64 to look the candidate up; ``unique`` is False in the
    (never yet seen) case of two spec keys with one code, where the decoder declines.
    """

    _cache: dict[tuple[str, ...], SpecKeys] = {}

    def __init__(self, names: tuple[str, ...]) -> None:
        encoded = [k.encode() for k in names]
        self.n_words = max(1, -(-max(len(b) for b in encoded) // 8))
        width = 8 * self.n_words
        padded = b"".join(b.ljust(width, b"\0")[:width] for b in encoded)
        self.words = np.frombuffer(padded, dtype="<u8").reshape(len(names), self.n_words).copy()
        self.lengths = np.asarray([len(b) for b in encoded], dtype=np.int64)
        self.first = self.words[:, 0].copy()
        self.last = np.asarray(
            [int.from_bytes(b[max(len(b) - 8, 0) :].ljust(8, b"\0"), "little") for b in encoded],
            dtype=np.uint64,
        )
        # spec keys that share their length and both ends (a long common prefix and suffix) are told apart
        # by whole words from the start, as few as needed
        self.code_offsets: tuple[int, ...] = ()
        self.codes = key_codes(self.first, self.last, self.lengths)
        for w in range(1, min(self.n_words, len(HASH_WEIGHTS) - 3)):
            if len(set(self.codes.tolist())) == len(names):
                break
            self.code_offsets += (8 * w,)
            middle = [self.words[:, o // 8] for o in self.code_offsets]
            self.codes = key_codes(self.first, self.last, self.lengths, middle)
        self.unique = len(set(self.codes.tolist())) == len(names)
        self.order = np.argsort(self.codes, kind="stable")
        self.sorted_codes = self.codes[self.order]
        self.long = self.lengths > 16

    @classmethod
    def get(cls, names: tuple[str, ...]) -> SpecKeys:
        keys = cls._cache.get(names)
        if keys is None:
            keys = cls._cache[names] = SpecKeys(names)
        return keys


def key_codes(
    first: np.ndarray, last: np.ndarray, lengths: np.ndarray, middle: Sequence[np.ndarray] = ()
) -> np.ndarray:
    """One uint64 per key from its first and last words, its length and the ``middle`` words (wrapping
    arithmetic)."""
    code = first * HASH_WEIGHTS[0] + last * HASH_WEIGHTS[1] + lengths.astype(np.uint64) * HASH_WEIGHTS[2]
    for i, word in enumerate(middle):
        code += word * HASH_WEIGHTS[3 + i]
    return code


def key_words(
    buf: np.ndarray, ks: np.ndarray, klen: np.ndarray, offsets: Sequence[int] = ()
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The first and the last 8 bytes of each key ``buf[ks:ks + klen]``, and its 8 bytes at each of
    ``offsets`` (zero beyond the key)."""
    at = at_every_byte(buf, "<u8")
    head = np.minimum(klen, 8)
    mask = BYTE_MASKS[head]
    middle = [at[ks + o] & BYTE_MASKS[np.clip(klen - o, 0, 8)] for o in offsets]
    return at[ks] & mask, at[ks + (klen - head)] & mask, middle


BYTE_MASKS = np.asarray([(1 << (8 * i)) - 1 for i in range(8)] + [2**64 - 1], dtype=np.uint64)


def at_every_byte(buf: np.ndarray, dtype: str) -> np.ndarray:
    """A view of ``buf`` with one (unaligned) ``dtype`` value starting at every byte offset.

    ``view[i]`` is the value stored in ``buf[i:i + itemsize]``: gathers of fixed-width fields take one
    fancy index instead of one per byte.
    """
    itemsize = np.dtype(dtype).itemsize
    return np.ndarray((len(buf) - itemsize + 1,), dtype=dtype, buffer=buf, strides=(1,))


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
        varlen_groups: ``(kind, key ids)`` of the ``VarLenFeature`` keys by wire kind (one gather serves
            a group when every record has one value for each of its keys).
    """

    names: tuple[str, ...]
    features: tuple[Any, ...]
    keys: SpecKeys
    spec_kind: np.ndarray
    groups: tuple[tuple[int, int, np.ndarray], ...]
    varlen: tuple[int, ...]
    varlen_groups: tuple[tuple[int, np.ndarray], ...] = ()


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
    varlen = tuple(j for j, key in enumerate(names) if isinstance(features[key], VarLenFeature))
    plan = Plan(
        names=names,
        features=tuple(features.values()),
        keys=SpecKeys.get(names),
        spec_kind=spec_kind,
        groups=tuple((kind, size, np.asarray(ids)) for (kind, size), ids in grouped.items()),
        varlen=varlen,
        varlen_groups=tuple(
            (kind, np.asarray([j for j in varlen if spec_kind[j] == kind]))
            for kind in sorted(set(spec_kind[list(varlen)].tolist()))
        ),
    )
    if signature:
        if len(_PLANS) >= 64:
            _PLANS.clear()
        _PLANS[signature] = plan
    return plan
