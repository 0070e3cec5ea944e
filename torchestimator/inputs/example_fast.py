"""A vectorised protobuf wire-format decoder for batches of numeric ``tf.train.Example``.

Decoding one Example per Python call through the protobuf runtime tops out near 100k examples/s.
This module decodes *all records of a batch at once* with numpy, level by level::

    Example   = 0x0a len Features
    Features  = (0x0a len MapEntry)*            <- one lockstep loop over entries, across all records
    MapEntry  = 0x0a len key  0x12 len Feature
    Feature   = 0x12 len FloatList | 0x1a len Int64List | 0x0a len BytesList
    FloatList = 0x0a len float32*  (packed)     Int64List = 0x0a len varint*  (packed)
    BytesList = (0x0a len bytes)*

This module walks the framing down to each feature's value payload; :mod:`~torchestimator.inputs.
example_values` decodes the values and builds the outputs (one gather per group of like keys);
:mod:`~torchestimator.inputs.example_wire` holds the byte-level tools and the per-spec plan.

Keys are matched to the spec by a 64-bit hash of their bytes, then checked byte for byte. Varints of
all int64 lists are decoded in one pass (terminator bytes ``< 0x80`` delimit the values; payloads of
one varint of at most 8 bytes, the common scalar, are decoded as 64-bit words).

Like TF's own fast parser, the bytes of features that are not in the spec are skipped, not parsed, so
damage inside them goes unnoticed (the protobuf runtime would reject the whole record); map keys are
compared as bytes (protobuf would reject a key that is not UTF-8).

Anything outside this common shape (unpacked lists, unknown fields, duplicate keys, a missing required
feature, a type or count mismatch) makes :func:`parse_records` return ``None``; the caller then uses the
protobuf path, which gives TF's result or TF's error for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from torchestimator.inputs.example_spec import INT32_RANGE
from torchestimator.inputs.example_values import EntryLists, assemble, decode_values
from torchestimator.inputs.example_wire import (
    KIND,
    Plan,
    at_every_byte,
    key_codes,
    key_words,
    lengths_at,
    plan_for,
    ranges,
)
from torchestimator.parsing import FixedLenFeature, VarLenFeature

__all__ = ["padding", "parse_records", "parse_span", "supports"]

# Feature tag byte -> wire kind (1 float_list 0x12, 2 int64_list 0x1a, 3 bytes_list 0x0a; 0 anything else)
_TAG_KIND = np.zeros(256, dtype=np.int64)
_TAG_KIND[[0x12, 0x1A, 0x0A]] = [1, 2, 3]


def supports(features: Mapping[str, Any]) -> bool:
    """Whether the fast path can handle this spec (``FixedLenFeature`` / ``VarLenFeature`` of any dtype)."""
    return all(type(f) in (FixedLenFeature, VarLenFeature) and f.dtype in KIND for f in features.values())


def parse_records(
    raw: bytes, starts: np.ndarray, lengths: np.ndarray, features: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Parse the Examples ``raw[starts[i]:starts[i] + lengths[i]]`` with a numeric spec.

    Args:
        raw: a buffer holding the serialized records.
        starts: (N,) int64 record offsets in ``raw``.
        lengths: (N,) int64 record lengths.
        features: a spec accepted by :func:`supports`.

    Returns:
        ``{key: (N, *shape) array or Ragged}``, or ``None`` when the batch needs the protobuf path.
    """
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    plan = plan_for(features)
    pad = padding(plan)
    if len(starts) == 0:
        return _parse(np.zeros(pad, dtype=np.uint8), starts, lengths, plan, 0, bytes(pad))
    lo = int(starts.min())
    hi = int((starts + lengths).max())
    if lo < 0 or hi > len(raw):
        return None
    # copy only the records' span, padded so fixed-width gathers near the end stay in bounds
    return parse_span(bytes(memoryview(raw)[lo:hi]) + bytes(pad), starts - lo, lengths, plan)


def padding(plan: Plan) -> int:
    """Spare bytes :func:`parse_span` needs after the records (fixed-width gathers near the end)."""
    return 8 * plan.keys.n_words + 16


def parse_span(span: bytes, starts: np.ndarray, lengths: np.ndarray, plan: Plan) -> dict[str, Any] | None:
    """:func:`parse_records` with the spec's plan made once (:func:`plan_for`) and the records already in
    ``span``, followed by :func:`padding` spare bytes: no copy. ``starts`` / ``lengths``: int64 arrays."""
    try:
        return _parse(
            np.frombuffer(span, dtype=np.uint8), starts, lengths, plan, len(span) - padding(plan), span
        )
    except IndexError:  # a length ran past the buffer: malformed, let protobuf report it
        return None


def _parse(
    buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, plan: Plan, raw_len: int, span: bytes
) -> dict[str, Any] | None:
    """The decoder, stage by stage; each stage returns ``None`` for anything outside the common shape."""
    ends = starts + lengths
    if len(starts) and int(ends.max()) > raw_len:
        return None
    features = _features_spans(buf, starts, ends)
    if features is None:
        return None
    entries = _map_entries(buf, *features)
    if entries is None:
        return None
    lists = _spec_lists(buf, entries, plan)
    if lists is None or not decode_values(buf, span, lists):
        return None
    if _may_overflow_int32(plan, lists):
        return None  # the protobuf path names the feature whose value int32 cannot hold
    return assemble(buf, len(starts), plan, lists)


def _may_overflow_int32(plan: Plan, lists: EntryLists) -> bool:
    """Whether a value of an ``int32`` feature lies outside int32 (the cast would wrap it silently; the
    protobuf path raises instead, naming the feature)."""
    values = lists.int_values
    if not values.size or (values.min() >= INT32_RANGE[0] and values.max() <= INT32_RANGE[1]):
        return False
    int32_ids = [j for j, f in enumerate(plan.features) if getattr(f, "dtype", None) == "int32"]
    if not int32_ids:
        return False
    entries = np.flatnonzero(np.isin(lists.kid, int32_ids) & lists.has_kind & (lists.kind == 2))
    own = values[ranges(lists.int_offset[entries], lists.counts[entries])]
    return bool(own.size and (own.min() < INT32_RANGE[0] or own.max() > INT32_RANGE[1]))


def _features_spans(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """``Example = 0x0a len Features``: where each record's Features starts and ends."""
    fstart = starts.copy()
    fend = starts.copy()
    nonempty = np.flatnonzero(ends > starts)
    if nonempty.size:
        p = starts[nonempty]
        if (buf[p] != 0x0A).any():
            return None
        dec = lengths_at(buf, p + 1)
        if dec is None:
            return None
        fstart[nonempty] = p + 1 + dec[1]
        fend[nonempty] = fstart[nonempty] + dec[0]
        if (fend[nonempty] != ends[nonempty]).any():
            return None
    return fstart, fend


def _map_entries(
    buf: np.ndarray, fstart: np.ndarray, fend: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``Features = (0x0a len MapEntry)*``: ``(record, start, end)`` of every map entry.

    One step per entry index, in lockstep across the records (the hot loop: few numpy calls a step).
    """
    rec_parts, tag_parts, s_parts, e_parts = [], [], [], []
    idx = np.flatnonzero(fstart < fend)  # records still inside their Features
    cur = fstart[idx]
    end = fend[idx]
    while idx.size:
        first = buf[cur + 1]
        if first.max() < 0x80:  # every entry below 128 bytes: one length byte (inlined: the hot loop)
            s = cur + 2
            e = s + first
        else:
            dec = lengths_at(buf, cur + 1)
            if dec is None:
                return None
            s = cur + 1 + dec[1]
            e = s + dec[0]
        rec_parts.append(idx)
        tag_parts.append(cur)
        s_parts.append(s)
        e_parts.append(e)
        more = e < end
        if more.all():
            cur = e
            continue
        if (e[~more] != end[~more]).any():
            return None  # an entry runs past its Features
        idx, cur, end = idx[more], e[more], end[more]
    if not rec_parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    if (buf[np.concatenate(tag_parts)] != 0x0A).any():
        return None  # not a map entry (an unknown field inside Features)
    return np.concatenate(rec_parts), np.concatenate(s_parts), np.concatenate(e_parts).astype(np.int64)


def _match_keys(
    buf: np.ndarray, entries: tuple[np.ndarray, np.ndarray, np.ndarray], plan: Plan
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """``MapEntry = 0x0a klen key 0x12 vlen Feature``: ``(record, key id, Feature start, end)`` of the
    entries whose key is in the spec."""
    er, es, ee = entries
    if er.size and (buf[es] != 0x0A).any():
        return None
    dec = lengths_at(buf, es + 1)
    if dec is None:
        return None
    klen = dec[0]
    ks = es + 1 + dec[1]
    ke = ks + klen
    if (ke >= ee).any() or (buf[ke] != 0x12).any():  # a map entry without a value: leave it to protobuf
        return None
    dec = lengths_at(buf, ke + 1)
    if dec is None:
        return None
    vs = ke + 1 + dec[1]
    ve = vs + dec[0]
    if (ve != ee).any():
        return None
    # a key's length, first and last 8 bytes determine it up to 16 bytes; longer spec keys are compared
    # word for word as well (only the entries that look like one)
    keys = plan.keys
    if not keys.unique:
        return None
    first, last, middle = key_words(buf, ks, klen, keys.code_offsets)
    code = key_codes(first, last, klen, middle)
    pos = np.minimum(np.searchsorted(keys.sorted_codes, code), len(plan.names) - 1)
    kid = keys.order[pos]
    hit = (keys.lengths[kid] == klen) & (keys.first[kid] == first) & (keys.last[kid] == last)
    check = np.flatnonzero(hit & keys.long[kid])
    at = at_every_byte(buf, "<u8")
    for w in range(1, keys.n_words):  # the whole words between a long key's first and last 8 bytes
        check = check[keys.lengths[kid[check]] > 8 * w + 8]
        if not check.size:
            break
        hit[check] &= at[ks[check] + 8 * w] == keys.words[kid[check], w]
    if not hit.all():  # keep the entries whose key is in the spec
        m = np.flatnonzero(hit)
        er, kid, vs, ve = er[m], kid[m], vs[m], ve[m]
    if (np.bincount(er * len(plan.names) + kid, minlength=1) > 1).any():
        return None  # a key twice in one Example: protobuf keeps the last; let it
    return er, kid, vs, ve


def _spec_lists(
    buf: np.ndarray, entries: tuple[np.ndarray, np.ndarray, np.ndarray], plan: Plan
) -> EntryLists | None:
    """``Feature = tag len List``, ``List = 0x0a len packed-values`` (numeric) or ``(0x0a len bytes)*``."""
    matched = _match_keys(buf, entries, plan)
    if matched is None:
        return None
    rec, kid, fs, fe = matched
    has_kind = fe > fs  # a Feature with no list set counts as missing
    kind = _TAG_KIND[buf[fs]] * has_kind
    bad = (kind != plan.spec_kind[kid]) & has_kind  # junk or a type mismatch: protobuf reports it
    dec = lengths_at(buf, fs + 1)
    if dec is None:
        return None
    ls = fs + 1 + dec[1]
    le = ls + dec[0]
    if not has_kind.all():
        ls = np.where(has_kind, ls, fe)
        le = np.where(has_kind, le, fe)
    bad |= le != fe
    numeric = (le > ls) & (kind != 3)  # numeric lists: one packed field 0x0a len payload
    bad |= (buf[ls] != 0x0A) & numeric  # else unpacked repeated values
    dec = lengths_at(buf, ls + 1)
    if dec is None:
        return None
    # bytes lists: the payload is the repeated (0x0a len bytes) elements, the whole list
    ps = np.where(numeric, ls + 1 + dec[1], ls)
    plen = np.where(numeric, dec[0], le - ls)
    bad |= ps + plen != le
    if bad.any():
        return None
    return EntryLists(rec, kid, has_kind, kind, ps, plen)
