"""The values of a batch of Examples, once :mod:`~torchestimator.inputs.example_fast` has found every
feature list: int64 varints and bytes elements decoded for all lists at once, then one output per spec key.

Every function returns ``None`` / ``False`` for anything outside the common shape, so the caller falls back
to the protobuf path (TF's answer or TF's error).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from torchestimator.inputs.example_spec import WIRE, default_array, size_of
from torchestimator.inputs.example_wire import (
    BYTE_MASKS,
    Plan,
    at_every_byte,
    key_codes,
    key_words,
    lengths_at,
    ranges,
)
from torchestimator.parsing import Ragged

__all__ = ["EntryLists", "assemble", "decode_values"]

_EMPTY = np.zeros(0, dtype=np.int64)
_EMPTY_OBJECTS = np.zeros(0, dtype=object)
_SHARE_FROM = 64  # values in a batch from which distinct values are sliced once (sorting costs ~10 us)


def _bytes_elements(
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
        if (buf[cur] != 0x0A).any():
            return None
        dec = lengths_at(buf, cur + 1)
        if dec is None:
            return None
        s = cur + 1 + dec[1]
        e = s + dec[0]
        if (e > end).any():
            return None
        owner_parts.append(idx)
        start_parts.append(s)
        end_parts.append(e)
        more = e < end
        idx, cur, end = idx[more], e[more], end[more]
    owner = np.concatenate(owner_parts)
    if len(owner_parts) == 1:  # one element per list: already in list order
        starts, ends = start_parts[0], end_parts[0]
    else:
        order = np.argsort(owner, kind="stable")  # list by list, elements in order
        starts = np.concatenate(start_parts)[order]
        ends = np.concatenate(end_parts)[order]
    return np.bincount(owner, minlength=len(ps)).astype(np.int64), _bytes_objects(buf, span, starts, ends)


def _bytes_objects(buf: np.ndarray, span: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Object array of ``span[starts[i]:ends[i]]``. Categorical batches repeat few short values: when every
    value is at most 16 bytes (then its length and first and last 8 bytes determine it), each distinct
    value is sliced once and shared (bytes are immutable), which also lets later hashing reuse its hash."""
    lengths = ends - starts
    if len(starts) >= _SHARE_FROM and int(lengths.max()) <= 16:
        first, last, _ = key_words(buf, starts, lengths)
        code = key_codes(first, last, lengths)
        rep = _representatives(code)
        if rep is None:  # two distinct values share a hash slot: group by sorting
            order = np.argsort(code, kind="stable")
            new = np.ones(len(order), dtype=bool)
            np.not_equal(code[order[1:]], code[order[:-1]], out=new[1:])
            rep = np.empty_like(order)
            rep[order] = order[np.flatnonzero(new)[np.cumsum(new) - 1]]  # first of each run of equal codes
        # the representative holds the same bytes: same length and first and last 8 bytes
        if ((lengths[rep] == lengths) & (first[rep] == first) & (last[rep] == last)).all():
            own = np.flatnonzero(rep == np.arange(len(rep)))  # each distinct value's representative
            values = np.empty(len(starts), dtype=object)
            values[own] = [span[a:b] for a, b in zip(starts[own].tolist(), ends[own].tolist())]
            return values[rep]
    values = np.empty(len(starts), dtype=object)
    values[:] = [span[a:b] for a, b in zip(starts.tolist(), ends.tolist())]
    return values


_SLOT_BITS = 14  # 16k int32 slots (64 KiB): ~30 distinct values collide in ~3% of batches (then: sorting)


def _representatives(code: np.ndarray) -> np.ndarray | None:
    """For each value, the position of one value with its code (the same position for all of them),
    through a hash table of slots in O(n); ``None`` when two different codes share a slot."""
    slot = (code >> np.uint64(64 - _SLOT_BITS)).astype(np.intp)
    table = np.empty(1 << _SLOT_BITS, dtype=np.int32)
    table[slot] = np.arange(len(code), dtype=np.int32)  # any write may win: all read back the same
    rep = table[slot].astype(np.intp)
    return rep if (code[rep] == code).all() else None


@dataclasses.dataclass
class EntryLists:
    """The feature entries of a batch whose key is in the spec, down to their value payloads.

    Attributes:
        rec: (M,) record of each entry.
        kid: (M,) spec key id of each entry.
        has_kind: (M,) whether the Feature has a list set (a Feature without one counts as missing).
        kind: (M,) wire kind (1 float, 2 int64, 3 bytes; 0 none).
        ps: (M,) payload start in the buffer.
        plen: (M,) payload length in bytes.
        counts: (M,) number of values; this and the decoded values are filled in by :func:`decode_values`.
        int_values: every int64 value, list by list; ``int_offset``: (M,) where each list starts.
        bytes_values: every bytes value (object array), list by list; ``bytes_offset``: as ``int_offset``.
    """

    rec: np.ndarray
    kid: np.ndarray
    has_kind: np.ndarray
    kind: np.ndarray
    ps: np.ndarray
    plen: np.ndarray
    counts: np.ndarray = dataclasses.field(default_factory=lambda: _EMPTY)
    int_values: np.ndarray = dataclasses.field(default_factory=lambda: _EMPTY)
    int_offset: np.ndarray = dataclasses.field(default_factory=lambda: _EMPTY)
    bytes_values: np.ndarray = dataclasses.field(default_factory=lambda: _EMPTY_OBJECTS)
    bytes_offset: np.ndarray = dataclasses.field(default_factory=lambda: _EMPTY)


_CONTINUATION = np.asarray(
    [0, 0] + [0x8080808080808080 & ((1 << (8 * (k - 1))) - 1) for k in range(2, 9)], np.uint64
)


def _single_varints(buf: np.ndarray, ps: np.ndarray, plen: np.ndarray) -> np.ndarray | None:
    """The value of payloads that each hold exactly one varint of at most 8 bytes (values below 2**56,
    the scalar int64 features of most data), decoded as words; ``None`` if any payload is not one."""
    if not ((plen >= 1) & (plen <= 8)).all():
        return None
    if plen.max() == 1:  # one byte each (values below 128: counts, small ids)
        value = buf[ps]
        return value.astype(np.int64) if value.max() < 0x80 else None
    w = at_every_byte(buf, "<u8")[ps] & BYTE_MASKS[plen]  # (L,) the payload bytes, zero beyond
    if ((w & np.uint64(0x8080808080808080)) != _CONTINUATION[plen]).any():
        return None
    v = w & np.uint64(0x7F7F7F7F7F7F7F7F)  # 7-bit groups, then pairwise compacted: 14, 28, 56 bits
    v = (v & np.uint64(0x007F007F007F007F)) | ((v & np.uint64(0x7F007F007F007F00)) >> np.uint64(1))
    v = (v & np.uint64(0x00003FFF00003FFF)) | ((v & np.uint64(0x3FFF00003FFF0000)) >> np.uint64(2))
    v = (v & np.uint64(0x000000000FFFFFFF)) | ((v & np.uint64(0x0FFFFFFF00000000)) >> np.uint64(4))
    return v.view(np.int64)


def _decode_varints(buf: np.ndarray, lists: EntryLists, is_int: np.ndarray) -> bool:
    """All packed int64 payloads at once: terminator bytes (``< 0x80``) delimit the values."""
    ps, plen = lists.ps[is_int], lists.plen[is_int]
    single = _single_varints(buf, ps, plen)
    if single is not None:
        lists.int_values = single
        lists.counts[is_int] = 1
        lists.int_offset[is_int] = np.arange(len(is_int))
        return True
    raw_bytes = buf[ranges(ps, plen)]
    term = raw_bytes < 0x80
    lists.int_values = np.zeros(0, dtype=np.int64)
    if raw_bytes.size:
        group_start = np.concatenate(([0], np.flatnonzero(term)[:-1] + 1))
        if not term[-1] or (np.diff(np.concatenate((group_start, [raw_bytes.size]))) > 10).any():
            return False
        # every payload must end on a terminator, or a varint would straddle two entries
        if (buf[(ps + plen - 1)[plen > 0]] >= 0x80).any():
            return False
        group_id: np.ndarray = np.cumsum(term) - term
        shift = (np.arange(raw_bytes.size, dtype=np.int64) - group_start[group_id]) * 7
        contrib = (raw_bytes & 0x7F).astype(np.uint64) << shift.astype(np.uint64)
        lists.int_values = np.add.reduceat(contrib, group_start).view(np.int64)
    cterm = np.concatenate(([0], np.cumsum(term)))
    off = np.concatenate(([0], np.cumsum(plen)))
    counts = cterm[off[1:]] - cterm[off[:-1]]
    lists.counts[is_int] = counts
    lists.int_offset[is_int] = np.cumsum(counts) - counts
    return True


def decode_values(buf: np.ndarray, span: bytes, lists: EntryLists) -> bool:
    """Count the values of every list and decode the int64 and bytes ones; ``False``: needs protobuf."""
    m = len(lists.rec)
    is_float = lists.kind == 1
    if ((lists.plen & 3).astype(bool) & is_float).any():
        return False  # not whole float32s
    lists.counts = counts = np.where(is_float, lists.plen >> 2, 0)
    lists.int_offset = np.zeros(m, dtype=np.int64)
    lists.bytes_offset = np.zeros(m, dtype=np.int64)
    is_int = np.flatnonzero(lists.kind == 2)
    if is_int.size and not _decode_varints(buf, lists, is_int):
        return False
    is_bytes = np.flatnonzero((lists.kind == 3) & (lists.plen > 0))
    if is_bytes.size:
        elements = _bytes_elements(buf, span, lists.ps[is_bytes], lists.plen[is_bytes])
        if elements is None:
            return False
        counts[is_bytes], lists.bytes_values = elements
        lists.bytes_offset[is_bytes] = np.cumsum(counts[is_bytes]) - counts[is_bytes]
    return True


def _gather(buf: np.ndarray, lists: EntryLists, kind: int, size: int, sel: np.ndarray) -> np.ndarray:
    """The values of the entries ``sel`` (any shape S), each with ``size`` values: ``(*S, size)``."""
    if kind == 1:
        floats = at_every_byte(buf, "<f4")
        if size == 1:
            return floats[lists.ps[sel]][..., None]  # (*S, 1)
        return floats[lists.ps[sel][..., None] + 4 * np.arange(size)]  # (*S, size)
    if kind == 2:
        return lists.int_values[lists.int_offset[sel][..., None] + np.arange(size)]
    return lists.bytes_values[lists.bytes_offset[sel][..., None] + np.arange(size)]


def _fixed_with_defaults(
    buf: np.ndarray, lists: EntryLists, plan: Plan, j: int, sel: np.ndarray
) -> np.ndarray | None:
    """A ``FixedLenFeature`` from the entry of each record (``sel[r] = -1``: none); a missing one takes the
    default (``None`` when there is none: the protobuf path raises TF's error)."""
    feature = plan.features[j]
    size = size_of(feature.shape)
    rows = np.flatnonzero(sel >= 0)
    if (lists.counts[sel[rows]] != size).any():
        return None
    result = np.empty((len(sel), size), dtype=WIRE[feature.dtype][1])
    if len(rows) < len(sel):
        default = default_array(plan.names[j], feature)
        if default is None:
            return None
        result[:] = default.reshape(-1)
    result[rows] = _gather(buf, lists, int(plan.spec_kind[j]), size, sel[rows])
    return result.reshape(len(sel), *feature.shape)


def _ragged(buf: np.ndarray, lists: EntryLists, plan: Plan, j: int, sel: np.ndarray) -> Ragged:
    """A ``VarLenFeature`` from the entry of each record (``sel[r] = -1``: none)."""
    rows = sel >= 0
    entries = sel[rows]  # in record order
    counts = lists.counts[entries]
    row_len = np.zeros(len(sel), dtype=np.int64)
    row_len[rows] = counts
    splits = np.zeros(len(sel) + 1, dtype=np.int64)
    np.cumsum(row_len, out=splits[1:])
    kind = int(plan.spec_kind[j])
    if kind == 1:
        values = buf[ranges(lists.ps[entries], lists.plen[entries])].view("<f4")
    elif kind == 2:
        values = lists.int_values[ranges(lists.int_offset[entries], counts)]
    else:
        values = lists.bytes_values[ranges(lists.bytes_offset[entries], counts)]
    return Ragged.from_valid(values.astype(WIRE[plan.features[j].dtype][1], copy=False), splits)


def assemble(buf: np.ndarray, n: int, plan: Plan, lists: EntryLists) -> dict[str, Any] | None:
    """The outputs: a (key, record) grid of entry indices, then one gather per group of like keys."""
    grid = np.full((len(plan.names), n), -1, dtype=np.int64)  # (K, N) entry of key k in record r, -1: missing
    if lists.has_kind.all():
        grid[lists.kid, lists.rec] = np.arange(len(lists.kid))
    else:
        present = np.flatnonzero(lists.has_kind)
        grid[lists.kid[present], lists.rec[present]] = present
    out: dict[str, Any] = {}
    for kind, size, ids in plan.groups:
        sel = grid[ids]  # (G, N)
        if (sel < 0).any():  # some record lacks a key of this group: key by key, with defaults
            for j in ids.tolist():
                result = _fixed_with_defaults(buf, lists, plan, j, grid[j])
                if result is None:
                    return None
                out[plan.names[j]] = result
            continue
        if (lists.counts[sel] != size).any():
            return None  # a value count differs from the shape: protobuf raises TF's error
        values = _gather(buf, lists, kind, size, sel)  # (G, N, size)
        for g, j in enumerate(ids.tolist()):
            feature = plan.features[j]
            out[plan.names[j]] = (
                values[g].astype(WIRE[feature.dtype][1], copy=False).reshape(n, *feature.shape)
            )
    for kind, ids in plan.varlen_groups:
        sel = grid[ids]  # (G, N)
        if n and (sel >= 0).all() and (lists.counts[sel] == 1).all():  # one value per record and key
            values = _gather(buf, lists, kind, 1, sel)[..., 0]  # (G, N)
            for g, j in enumerate(ids.tolist()):
                dtype = WIRE[plan.features[j].dtype][1]
                out[plan.names[j]] = Ragged.from_valid(
                    np.ascontiguousarray(values[g], dtype=dtype), np.arange(n + 1, dtype=np.int64)
                )
            continue
        for j in ids.tolist():
            out[plan.names[j]] = _ragged(buf, lists, plan, j, grid[j])
    return {name: out[name] for name in plan.names}
