"""The byte formats under a TF checkpoint index: protobuf wire format, OrderedCode slice keys, the SSTable.

Table layout (``tensorflow/core/lib/io/{table,block,format}.cc``)::

    [data block][trailer] ... [metaindex block][trailer][index block][trailer][footer: 48 bytes]
    trailer = 1 byte compression type (0 = none) + masked CRC32C of (block + type byte)
    footer  = BlockHandle(metaindex) BlockHandle(index) zero padding to 40 bytes, fixed64 magic
    block   = entries {varint shared, varint unshared, varint value_len, key delta, value},
              fixed32 restart offsets, fixed32 restart count

A slice key (``EncodeTensorNameSlice``) is ``OrderedCode``: ``NumIncreasing(0)``, ``String(name)``,
``NumIncreasing(rank)``, then ``SignedNumIncreasing(start), SignedNumIncreasing(length or -1)`` per dimension.
The protobuf messages (``BundleEntryProto``, ``TensorShapeProto``, ``TensorSliceProto``) are decoded field by
field: no generated code, nothing executed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

from torchestimator.errors import CorruptCheckpointError
from torchestimator.inputs.tfrecord import masked_crc32c

__all__ = ["TFEntry", "decode_slice_key", "fields", "read_ordered_signed", "read_table"]

_MAGIC = 0xDB4775248B80FB57
_FOOTER = 48


# ---- protobuf wire format ---------------------------------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CorruptCheckpointError("truncated varint in a TF checkpoint index")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a serialized message: ints for varint / fixed, bytes for length-delimited."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, value
        elif wire == 1:
            yield number, struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire == 5:
            yield number, struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        elif wire == 2:
            size, pos = _varint(buf, pos)
            yield number, buf[pos : pos + size]
            pos += size
        else:
            raise CorruptCheckpointError(f"unsupported protobuf wire type {wire} in a TF checkpoint index")


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _shape(buf: bytes) -> tuple[int, ...]:
    dims: list[int] = []
    for number, value in fields(buf):
        if number == 2 and isinstance(value, bytes):  # TensorShapeProto.dim
            size = 0
            for n, v in fields(value):
                if n == 1 and isinstance(v, int):
                    size = _signed64(v)
            dims.append(size)
    return tuple(dims)


def _slice(buf: bytes, rank: int) -> tuple[tuple[int, int], ...]:
    """TensorSliceProto -> ((start, length or -1 for the full extent), ...)."""
    extents: list[tuple[int, int]] = []
    for number, value in fields(buf):
        if number == 1 and isinstance(value, bytes):
            start, length = 0, -1
            for n, v in fields(value):
                if n == 1 and isinstance(v, int):
                    start = _signed64(v)
                elif n == 2 and isinstance(v, int):
                    length = _signed64(v)
            extents.append((start, length))
    return tuple(extents) if extents else tuple((0, -1) for _ in range(rank))


class TFEntry:
    """One BundleEntryProto: where a tensor (or a slice of one) lives and what it is."""

    def __init__(self, buf: bytes) -> None:
        self.dtype = 1
        self.shape: tuple[int, ...] = ()
        self.shard_id = 0
        self.offset = 0
        self.size = 0
        self.crc32c: int | None = None
        self.slice_protos: list[bytes] = []
        for number, value in fields(buf):
            if number == 1 and isinstance(value, int):
                self.dtype = value
            elif number == 2 and isinstance(value, bytes):
                self.shape = _shape(value)
            elif number == 3 and isinstance(value, int):
                self.shard_id = value
            elif number == 4 and isinstance(value, int):
                self.offset = value
            elif number == 5 and isinstance(value, int):
                self.size = value
            elif number == 6 and isinstance(value, int):
                self.crc32c = value
            elif number == 7 and isinstance(value, bytes):
                self.slice_protos.append(value)

    @property
    def slices(self) -> list[tuple[tuple[int, int], ...]]:
        """The slices a partitioned variable was saved in (empty for a whole tensor)."""
        return [_slice(s, len(self.shape)) for s in self.slice_protos]


# ---- OrderedCode (slice keys) -----------------------------------------------------------------------


def _read_ordered_string(key: bytes, pos: int) -> tuple[bytes, int]:
    out = bytearray()
    while pos < len(key) - 1:
        byte = key[pos]
        if byte == 0x00:
            nxt = key[pos + 1]
            if nxt == 0x01:
                return bytes(out), pos + 2
            out.append(0x00)  # \x00\xff encodes \x00
            pos += 2
        elif byte == 0xFF:
            out.append(0xFF)  # \xff\x00 encodes \xff
            pos += 2
        else:
            out.append(byte)
            pos += 1
    raise CorruptCheckpointError("bad slice key in a TF checkpoint index (unterminated name)")


_M64 = (1 << 64) - 1
# OrderedCode's kLengthToMask: header bits that overlap the payload, per encoded length
_LENGTH_TO_MASK = (
    0,
    0x80,
    0xC000,
    0xE00000,
    0xF0000000,
    0xF800000000,
    0xFC0000000000,
    0xFE000000000000,
    0xFF << 56,
)


def read_ordered_signed(key: bytes, pos: int) -> tuple[int, int]:
    """OrderedCode::ReadSignedNumIncreasing for encodings of up to 8 bytes (|value| < 2**55)."""
    xor_mask = 0 if key[pos] & 0x80 else _M64
    first = key[pos] ^ (xor_mask & 0xFF)
    if first == 0xFF:
        raise CorruptCheckpointError("slice extent too large in a TF checkpoint index")
    length = 7 - ((first ^ 0xFF).bit_length() - 1)
    value = xor_mask
    for i in range(length):
        value = ((value << 8) | key[pos + i]) & _M64
    return _signed64(value ^ _LENGTH_TO_MASK[length]), pos + length


def decode_slice_key(key: bytes) -> tuple[str, tuple[tuple[int, int], ...]]:
    """``EncodeTensorNameSlice`` inverted: the variable name and ((start, length), ...)."""
    pos = 1  # WriteNumIncreasing(0)
    name, pos = _read_ordered_string(key, pos)
    nbytes = key[pos]
    rank = int.from_bytes(key[pos + 1 : pos + 1 + nbytes], "big")
    pos += 1 + nbytes
    extents: list[tuple[int, int]] = []
    for _ in range(rank):
        start, pos = read_ordered_signed(key, pos)
        length, pos = read_ordered_signed(key, pos)
        extents.append((start, length))
    return name.decode("utf-8"), tuple(extents)


# ---- the table --------------------------------------------------------------------------------------


def _read_block(data: bytes, offset: int, size: int, where: str) -> bytes:
    block = data[offset : offset + size]
    trailer = data[offset + size : offset + size + 5]
    if len(block) != size or len(trailer) != 5:
        raise CorruptCheckpointError(f"{where}: truncated (a block runs past the end of the file)")
    if trailer[0] != 0:
        raise CorruptCheckpointError(
            f"{where}: compressed index blocks (type {trailer[0]}) are not supported; TF writes them uncompressed"
        )
    if masked_crc32c(block + trailer[:1]) != struct.unpack("<I", trailer[1:])[0]:
        raise CorruptCheckpointError(f"{where}: block checksum mismatch; the file is corrupt")
    return block


def _block_entries(block: bytes, where: str) -> Iterator[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise CorruptCheckpointError(f"{where}: block too short")
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 * (restarts + 1)
    pos, key = 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + value_len]
        pos += value_len


def read_table(path: Path) -> dict[bytes, bytes]:
    data = path.read_bytes()
    where = str(path)
    if len(data) < _FOOTER or struct.unpack_from("<Q", data, len(data) - 8)[0] != _MAGIC:
        raise CorruptCheckpointError(f"{where} is not a TF checkpoint index (bad table magic number)")
    footer = data[len(data) - _FOOTER :]
    _, pos = _varint(footer, 0)  # metaindex offset
    _, pos = _varint(footer, pos)  # metaindex size
    index_offset, pos = _varint(footer, pos)
    index_size, pos = _varint(footer, pos)
    table: dict[bytes, bytes] = {}
    for _, handle in _block_entries(_read_block(data, index_offset, index_size, where), where):
        offset, p = _varint(handle, 0)
        size, _ = _varint(handle, p)
        for key, value in _block_entries(_read_block(data, offset, size, where), where):
            table[key] = value
    return table
