"""A TensorFlow-free reader of TF's name-based checkpoints (the "tensor bundle" format).

A checkpoint ``<prefix>`` (e.g. ``model_dir/model.ckpt-30``, or a SavedModel's ``variables/variables``)
is an index file plus data shards::

    <prefix>.index                  an SSTable (LevelDB table format, uncompressed):
                                      ""           -> BundleHeaderProto {num_shards, endianness}
                                      "<var name>" -> BundleEntryProto {dtype, shape, shard_id,
                                                                        offset, size, crc32c, slices}
                                      "\\x00..."    -> one slice of a partitioned variable (key =
                                                      OrderedCode(0, name, rank, start_0, len_0, ...))
    <prefix>.data-0000s-of-0000N    raw little-endian tensors at entry.offset, entry.size bytes

Table layout (``tensorflow/core/lib/io/{table,block,format}.cc``)::

    [data block][trailer] ... [metaindex block][trailer][index block][trailer][footer: 48 bytes]
    trailer = 1 byte compression type (0 = none) + masked CRC32C of (block + type byte)
    footer  = BlockHandle(metaindex) BlockHandle(index) zero padding to 40 bytes, fixed64 magic
    block   = entries {varint shared, varint unshared, varint value_len, key delta, value},
              fixed32 restart offsets, fixed32 restart count

Every block and every tensor is checked against its masked CRC32C; a mismatch raises
:class:`~torchestimator.errors.CorruptCheckpointError`. Partitioned variables (saved by a ``Saver``
as slices of the full variable) are reassembled. Nothing is executed or unpickled: the protobuf
messages are decoded field by field.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from torchestimator.errors import CheckpointNotFoundError, CorruptCheckpointError
from torchestimator.inputs.tfrecord import masked_crc32c

__all__ = ["TFBundle", "TFEntry", "find_tf_checkpoint", "is_tf_checkpoint"]

_MAGIC = 0xDB4775248B80FB57
_FOOTER = 48
# tensorflow/core/framework/types.proto -> numpy (little-endian)
_DTYPES: dict[int, np.dtype[Any]] = {
    1: np.dtype("<f4"),
    2: np.dtype("<f8"),
    3: np.dtype("<i4"),
    4: np.dtype("u1"),
    5: np.dtype("<i2"),
    6: np.dtype("i1"),
    9: np.dtype("<i8"),
    10: np.dtype("?"),
    17: np.dtype("<u2"),
    19: np.dtype("<f2"),
    22: np.dtype("<u4"),
    23: np.dtype("<u8"),
}
_DTYPE_NAMES = {7: "string", 8: "complex64", 14: "bfloat16", 18: "complex128", 20: "resource", 21: "variant"}


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


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
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
    for number, value in _fields(buf):
        if number == 2 and isinstance(value, bytes):  # TensorShapeProto.dim
            size = 0
            for n, v in _fields(value):
                if n == 1 and isinstance(v, int):
                    size = _signed64(v)
            dims.append(size)
    return tuple(dims)


def _slice(buf: bytes, rank: int) -> tuple[tuple[int, int], ...]:
    """TensorSliceProto -> ((start, length or -1 for the full extent), ...)."""
    extents: list[tuple[int, int]] = []
    for number, value in _fields(buf):
        if number == 1 and isinstance(value, bytes):
            start, length = 0, -1
            for n, v in _fields(value):
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
        for number, value in _fields(buf):
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


def _read_ordered_signed(key: bytes, pos: int) -> tuple[int, int]:
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


def _decode_slice_key(key: bytes) -> tuple[str, tuple[tuple[int, int], ...]]:
    """``EncodeTensorNameSlice`` inverted: the variable name and ((start, length), ...)."""
    pos = 1  # WriteNumIncreasing(0)
    name, pos = _read_ordered_string(key, pos)
    nbytes = key[pos]
    rank = int.from_bytes(key[pos + 1 : pos + 1 + nbytes], "big")
    pos += 1 + nbytes
    extents: list[tuple[int, int]] = []
    for _ in range(rank):
        start, pos = _read_ordered_signed(key, pos)
        length, pos = _read_ordered_signed(key, pos)
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


def _read_table(path: Path) -> dict[bytes, bytes]:
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


# ---- locating a checkpoint ------------------------------------------------------------------------


def is_tf_checkpoint(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a TF checkpoint: a prefix with an ``.index``, a model_dir or a SavedModel."""
    try:
        find_tf_checkpoint(path)
    except CheckpointNotFoundError:
        return False
    return True


def _latest_from_state_file(model_dir: Path) -> Path | None:
    state = model_dir / "checkpoint"
    if not state.is_file():
        return None
    for line in state.read_text(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("model_checkpoint_path:"):
            value = line.split(":", 1)[1].strip().strip('"')
            prefix = Path(value) if os.path.isabs(value) else model_dir / value
            if Path(f"{prefix}.index").is_file():
                return prefix
            # a model_dir moved since it was written: look for the same file name next to the state file
            local = model_dir / Path(value).name
            if Path(f"{local}.index").is_file():
                return local
    return None


def find_tf_checkpoint(path: str | os.PathLike[str]) -> Path:
    """The checkpoint prefix for a prefix, an ``.index`` file, a TF model_dir or a SavedModel directory.

    Raises:
        CheckpointNotFoundError: nothing TF-shaped at ``path``.
    """
    p = Path(path)
    if p.name.endswith(".index") and p.is_file():
        return p.with_name(p.name[: -len(".index")])
    if Path(f"{p}.index").is_file():
        return p
    if p.is_dir():
        if (p / "variables" / "variables.index").is_file():  # a SavedModel
            return p / "variables" / "variables"
        if (p / "variables.index").is_file():  # a SavedModel's variables/ folder
            return p / "variables"
        latest = _latest_from_state_file(p)
        if latest is not None:
            return latest
        steps = sorted(
            (int(f.name[len("model.ckpt-") : -len(".index")]), f)
            for f in p.glob("model.ckpt-*.index")
            if f.name[len("model.ckpt-") : -len(".index")].isdigit()
        )
        if steps:
            return steps[-1][1].with_name(steps[-1][1].name[: -len(".index")])
    raise CheckpointNotFoundError(
        f"no TF checkpoint at {p}: expected a checkpoint prefix (model.ckpt-N, with model.ckpt-N.index next to "
        "it), a TF model_dir (with a `checkpoint` file or model.ckpt-*.index files) or a SavedModel directory "
        "(with variables/variables.index)."
    )


class TFBundle:
    """The variables of one TF checkpoint, read lazily and verified.

    Args:
        path: a checkpoint prefix, its ``.index`` file, a TF model_dir (newest checkpoint) or a SavedModel.

    Raises:
        CheckpointNotFoundError: no TF checkpoint there.
        CorruptCheckpointError: a bad table, a missing data shard, or a checksum mismatch.

    Example:
        >>> bundle = TFBundle("tests/fixtures/compat/baseline")  # doctest: +SKIP
        >>> bundle.shapes()["baseline/bias"]  # doctest: +SKIP
        (3,)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.prefix = find_tf_checkpoint(path)
        table = _read_table(Path(f"{self.prefix}.index"))
        self._num_shards = 1
        self._big_endian = False
        self._entries: dict[str, TFEntry] = {}
        self._slices: dict[str, dict[tuple[tuple[int, int], ...], TFEntry]] = {}
        for key, value in table.items():
            if key == b"":
                for number, v in _fields(value):
                    if number == 1 and isinstance(v, int):
                        self._num_shards = v
                    elif number == 2 and isinstance(v, int):
                        self._big_endian = v == 1
            elif key[:1] == b"\x00":
                name, extents = _decode_slice_key(key)
                self._slices.setdefault(name, {})[extents] = TFEntry(value)
            else:
                self._entries[key.decode("utf-8")] = TFEntry(value)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        """Every variable name, sorted (partitioned variables under their full name)."""
        return sorted(self._entries)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Variable name -> shape (the full shape for a partitioned variable)."""
        return {n: e.shape for n, e in sorted(self._entries.items())}

    def _raw(self, entry: TFEntry, name: str) -> np.ndarray:
        dtype = _DTYPES.get(entry.dtype)
        if dtype is None:
            kind = _DTYPE_NAMES.get(entry.dtype, f"enum {entry.dtype}")
            raise CorruptCheckpointError(
                f"TF checkpoint {self.prefix}: variable {name!r} has dtype {kind}, which cannot be imported "
                "(only numeric and bool tensors)."
            )
        shard = Path(f"{self.prefix}.data-{entry.shard_id:05d}-of-{self._num_shards:05d}")
        try:
            with open(shard, "rb") as f:
                f.seek(entry.offset)
                raw = f.read(entry.size)
        except FileNotFoundError:
            raise CorruptCheckpointError(
                f"TF checkpoint {self.prefix}: data file {shard.name} is missing (needed for {name!r})."
            ) from None
        if len(raw) != entry.size:
            raise CorruptCheckpointError(
                f"TF checkpoint {self.prefix}: {shard.name} is truncated at {name!r}."
            )
        if entry.crc32c is not None and masked_crc32c(raw) != entry.crc32c:
            raise CorruptCheckpointError(
                f"TF checkpoint {self.prefix}: checksum mismatch for {name!r} in {shard.name}; the file is corrupt."
            )
        array = np.frombuffer(raw, dtype=dtype)
        if self._big_endian:
            array = array.byteswap()
        count = int(np.prod(entry.shape)) if entry.shape else 1
        if array.size != count:
            raise CorruptCheckpointError(
                f"TF checkpoint {self.prefix}: {name!r} holds {array.size} values, its shape {entry.shape} needs {count}."
            )
        return array.astype(dtype.newbyteorder("="), copy=True).reshape(entry.shape)

    def read(self, name: str) -> np.ndarray:
        """The value of ``name`` as a numpy array (slices of a partitioned variable reassembled).

        Raises:
            KeyError: no such variable.
            CorruptCheckpointError: a checksum mismatch or a slice missing.
        """
        entry = self._entries[name]
        if not entry.slice_protos:
            return self._raw(entry, name)
        dtype = _DTYPES.get(entry.dtype, np.dtype("<f4"))
        out = np.zeros(entry.shape, dtype=dtype.newbyteorder("="))
        stored = self._slices.get(name, {})
        for extents in entry.slices:
            part = stored.get(extents)
            if part is None:
                raise CorruptCheckpointError(
                    f"TF checkpoint {self.prefix}: slice {extents} of {name!r} is listed but not stored."
                )
            index = tuple(slice(start, None if length < 0 else start + length) for start, length in extents)
            out[index] = self._raw(part, name)
        return out

    def covered_rows(self, name: str) -> np.ndarray:
        """Boolean ``(rows,)``: which rows of ``name`` the checkpoint stores (all unless saved in slices)."""
        entry = self._entries[name]
        rows = entry.shape[0] if entry.shape else 1
        covered = np.zeros(rows, dtype=bool)
        if not entry.slice_protos:
            covered[:] = True
        for extents in entry.slices:
            start, length = extents[0] if extents else (0, -1)
            covered[start : rows if length < 0 else start + length] = True
        return covered
