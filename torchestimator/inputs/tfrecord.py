"""TFRecord files without TensorFlow: the framing, its masked CRC32C, GZIP / ZLIB, a reader and a writer.

Each record on disk is::

    uint64  length                       little-endian
    uint32  masked_crc32c(length bytes)
    byte    data[length]
    uint32  masked_crc32c(data)

``masked_crc32c(x) = ((crc >> 15) | (crc << 17)) + 0xa282ead8`` (mod 2**32), as in TF's
``tsl/lib/hash/crc32c.h``. A compressed file (``GZIP`` / ``ZLIB``) compresses the whole framed stream.

The reader works in chunks: :func:`read_record_chunks` yields :class:`RecordChunk` objects (one bytes buffer
plus record ``starts`` / ``lengths``) so batched decoders need no Python object per record.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import logging
import os
import struct
import zlib
from collections.abc import Iterator
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np

from torchestimator.errors import DataLossError, InvalidArgumentError

__all__ = [
    "RecordChunk",
    "TFRecordWriter",
    "masked_crc32c",
    "read_record_chunks",
    "read_records",
    "tfrecord_compression",
]

_log = logging.getLogger(__name__)
_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
_LENGTH = struct.Struct("<Q")
_CHUNK_BYTES = 4 << 20  # read 4 MiB at a time: large enough to amortise, small enough for memory

try:  # the C implementation; a pure-Python table fallback keeps the package importable without it
    from google_crc32c import value as _crc32c
except ImportError:  # pragma: no cover - exercised only where google-crc32c is missing
    _TABLE = []
    for _i in range(256):
        _c = _i
        for _ in range(8):
            _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
        _TABLE.append(_c)

    def _crc32c(data: bytes) -> int:
        crc = 0xFFFFFFFF
        for byte in data:
            crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        return crc ^ 0xFFFFFFFF

    _log.warning("google-crc32c is not installed; TFRecord checksums use a slow pure-Python CRC32C.")


def masked_crc32c(data: bytes) -> int:
    """TF's masked CRC32C of ``data``.

    Args:
        data: the bytes to checksum.

    Returns:
        The masked checksum as an unsigned 32-bit int.

    Example:
        >>> masked_crc32c(b"")
        2726488792
    """
    crc = _crc32c(bytes(data))
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def tfrecord_compression(compression_type: str | None) -> str:
    """Normalise a TF compression name: ``None`` / ``""`` / ``"NONE"`` → ``""``; ``"GZIP"``; ``"ZLIB"``.

    Raises:
        InvalidArgumentError: for any other value.
    """
    value = (compression_type or "").upper()
    if value == "NONE":
        value = ""
    if value not in ("", "GZIP", "ZLIB"):
        raise InvalidArgumentError(
            f"compression_type must be None, '', 'GZIP' or 'ZLIB'; received {compression_type!r}."
        )
    return value


class _ZlibReader(io.RawIOBase):
    """A readable stream that inflates a ZLIB-compressed file (TF's ``ZLIB`` TFRecord option)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._inflate = zlib.decompressobj()
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._pending) < size:
            block = self._raw.read(_CHUNK_BYTES)
            if not block:
                self._pending += self._inflate.flush()
                break
            self._pending += self._inflate.decompress(block)
        if size < 0:
            size = len(self._pending)
        out, self._pending = self._pending[:size], self._pending[size:]
        return out

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_read(path: str, compression: str) -> Any:
    if compression == "GZIP":
        return gzip.open(path, "rb")
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    return _ZlibReader(raw) if compression == "ZLIB" else raw


@dataclasses.dataclass(frozen=True)
class RecordChunk:
    """Consecutive records of one file sharing one buffer.

    Attributes:
        buffer: the raw bytes; record ``i`` is ``buffer[starts[i]:starts[i] + lengths[i]]``.
        starts: (n,) int64 offsets of each record's data in ``buffer``.
        lengths: (n,) int64 data lengths.
        path: the file the records came from.
        first_index: index of the first record of this chunk in its file.
    """

    buffer: bytes
    starts: np.ndarray
    lengths: np.ndarray
    path: str
    first_index: int

    def __len__(self) -> int:
        return len(self.starts)

    def record(self, i: int) -> bytes:
        """Record ``i`` of the chunk as ``bytes``."""
        start = int(self.starts[i])
        return self.buffer[start : start + int(self.lengths[i])]

    def records(self) -> list[bytes]:
        """All records as a list of ``bytes``."""
        buf = self.buffer
        return [buf[s : s + n] for s, n in zip(self.starts.tolist(), self.lengths.tolist())]


def _hint(path: str, compression: str) -> str:
    if not compression and path.endswith((".gz", ".gzip")):
        return " The file name ends in .gz: pass compression_type='GZIP'."
    if not compression and path.endswith((".zz", ".zlib")):
        return " The file name suggests ZLIB: pass compression_type='ZLIB'."
    return " The file is corrupt or truncated, or was written with a different compression_type."


def _crc32c_table() -> np.ndarray:
    """The 256-entry CRC32C (Castagnoli, reflected) byte table."""
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0x82F63B78), table >> 1).astype(np.uint32)
    return table


_TABLE32 = _crc32c_table()


def _masked(crc: np.ndarray) -> np.ndarray:
    """TF's mask of each CRC in ``crc`` (vectorised :func:`masked_crc32c`)."""
    c = crc.astype(np.uint64)
    return (
        (((c >> np.uint64(15)) | (c << np.uint64(17))) + np.uint64(_MASK_DELTA)) & np.uint64(0xFFFFFFFF)
    ).astype(np.uint32)


def _header_crcs(data: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """Masked CRC32C of the 8-byte length field at each of ``heads``, table-driven across all records at once."""
    crc = np.full(len(heads), 0xFFFFFFFF, dtype=np.uint32)
    for i in range(8):  # one byte of every header per step  # (N,)
        crc = _TABLE32[(crc ^ data[heads + i]) & 0xFF] ^ (crc >> np.uint32(8))
    return _masked(crc ^ np.uint32(0xFFFFFFFF))


def _u32_at(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The little-endian uint32 at each of ``offsets`` (one gather through an unaligned view)."""
    return np.ndarray((len(data) - 3,), dtype="<u4", buffer=data, strides=(1,))[offsets]


def _first_corrupt(buf: bytes, heads: np.ndarray, lengths: np.ndarray) -> tuple[int, str] | None:
    """``(position in heads, "length" | "data")`` of the first record whose CRC does not match, or ``None``.

    The length CRCs are computed with numpy for all records at once; the data CRCs with one C call per
    record and compared with numpy.
    """
    data = np.frombuffer(buf, dtype=np.uint8)
    bad_length = _header_crcs(data, heads) != _u32_at(data, heads + 8)
    ends = heads + 12 + lengths
    crc = _crc32c
    computed = np.fromiter(
        (crc(buf[s:e]) for s, e in zip((heads + 12).tolist(), ends.tolist())),
        dtype=np.uint32,
        count=len(heads),
    )
    bad_data = _masked(computed) != _u32_at(data, ends)
    bad = np.flatnonzero(bad_length | bad_data)
    if not bad.size:
        return None
    first = int(bad[0])
    return first, "length" if bad_length[first] else "data"


def _frame(buf: bytes, end_of_data: int) -> tuple[list[int], int]:
    """Offsets of the whole records in ``buf`` (by their length fields, unchecked) and where the rest starts."""
    heads: list[int] = []
    append = heads.append
    unpack_length = _LENGTH.unpack_from
    pos = 0
    while pos + 12 <= end_of_data:  # the one per-record Python loop: lengths chain the records
        record_end = pos + unpack_length(buf, pos)[0] + 16
        if record_end > end_of_data:
            break
        append(pos)
        pos = record_end
    return heads, pos


def _split_chunk(
    buf: bytes, verify: bool, where: tuple[str, str, int, int]
) -> tuple[np.ndarray, np.ndarray, int]:
    """Frame ``buf`` into whole records, checking their CRCs: ``(data starts, data lengths, end of the last)``.

    ``where`` is ``(path, compression, byte offset of buf in the stream, index of its first record)``
    for the error messages.
    """
    heads_list, pos = _frame(buf, len(buf))
    heads = np.asarray(heads_list, dtype=np.int64)
    data = np.frombuffer(buf, dtype=np.uint8)
    lengths = np.ndarray((max(len(data) - 7, 0),), dtype="<u8", buffer=data, strides=(1,))[heads].astype(
        np.int64
    )
    if not verify:
        return heads + 12, lengths, pos
    corrupt = _first_corrupt(buf, heads, lengths) if len(heads) else None
    if (
        corrupt is None
        and pos + 12 <= len(buf)
        and masked_crc32c(buf[pos : pos + 8]) != _HEADER.unpack_from(buf, pos)[1]
    ):
        # the record after the last whole one claims more bytes than the buffer holds: check its length
        # field now, so a corrupt length is reported as such (not carried on until the end of the file)
        heads, corrupt = np.append(heads, pos), (len(heads), "length")
    if corrupt is not None:
        path, compression, base, index = where
        i, field = corrupt
        raise DataLossError(
            f"Corrupt TFRecord in {path!r}: the {field} checksum of record {index + i} at byte offset "
            f"{base + int(heads[i])} does not match." + _hint(path, compression)
        )
    return heads + 12, lengths, pos


def read_record_chunks(
    path: str, compression_type: str | None = None, verify_checksums: bool = True
) -> Iterator[RecordChunk]:
    """Read a TFRecord file in chunks of whole records, checking both CRCs of every record.

    Args:
        path: the TFRecord file.
        compression_type: ``None`` / ``""``, ``"GZIP"`` or ``"ZLIB"`` (TF's names).
        verify_checksums: check the length and data CRCs (TF always does).

    Yields:
        :class:`RecordChunk` objects, in file order.

    Raises:
        DataLossError: a checksum mismatch or a truncated record, naming the file and the byte offset
            (in the uncompressed stream) of the record.
        InvalidArgumentError: an unknown ``compression_type``.
    """
    compression = tfrecord_compression(compression_type)
    with open_read(path, compression) as stream:
        carry = b""
        base = 0  # offset of carry[0] in the uncompressed stream
        index = 0
        while True:
            try:
                block = stream.read(_CHUNK_BYTES)
            except (OSError, EOFError, zlib.error) as err:
                raise DataLossError(
                    f"Cannot decompress {path!r} ({compression or 'no compression'}) near byte {base}: {err}."
                    + _hint(path, compression)
                ) from err
            buf = carry + block if carry else block
            if not buf:
                return
            starts, lengths, pos = _split_chunk(buf, verify_checksums, (path, compression, base, index))
            end_of_data = len(buf)
            if len(starts):
                yield RecordChunk(buf, starts, lengths, path, index)
                index += len(starts)
            if not block:  # end of file: anything left over is a truncated record
                if pos < end_of_data:
                    raise DataLossError(
                        f"Truncated TFRecord in {path!r}: {end_of_data - pos} trailing bytes at byte offset "
                        f"{base + pos} do not form a whole record (record {index})."
                        + _hint(path, compression)
                    )
                return
            carry = buf[pos:]
            base += pos


def read_records(path: str, compression_type: str | None = None) -> Iterator[bytes]:
    """Yield every record of a TFRecord file as ``bytes`` (see :func:`read_record_chunks`)."""
    for chunk in read_record_chunks(path, compression_type):
        yield from chunk.records()


class TFRecordWriter:
    """Write records in TF's framing, optionally GZIP / ZLIB compressed (like ``tf.io.TFRecordWriter``).

    Args:
        path: the file to create (overwritten if it exists).
        compression_type: ``None`` / ``""``, ``"GZIP"`` or ``"ZLIB"``.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "x.tfrecord")
        >>> with TFRecordWriter(p) as w:
        ...     w.write(b"hello")
        >>> list(read_records(p))
        [b'hello']
    """

    def __init__(self, path: str | os.PathLike[str], compression_type: str | None = None) -> None:
        self._compression = tfrecord_compression(compression_type)
        self._path = os.fspath(path)
        self._file: BinaryIO = open(self._path, "wb")  # noqa: SIM115 - closed in close()
        self._gzip: gzip.GzipFile | None = None
        self._deflate = zlib.compressobj() if self._compression == "ZLIB" else None
        if self._compression == "GZIP":
            self._gzip = gzip.GzipFile(fileobj=self._file, mode="wb", mtime=0)

    def write(self, record: bytes) -> None:
        """Append one record."""
        data = bytes(record)
        header = struct.pack("<Q", len(data))
        framed = b"".join(
            (header, _FOOTER.pack(masked_crc32c(header)), data, _FOOTER.pack(masked_crc32c(data)))
        )
        if self._gzip is not None:
            self._gzip.write(framed)
        elif self._deflate is not None:
            self._file.write(self._deflate.compress(framed))
        else:
            self._file.write(framed)

    def flush(self) -> None:
        """Flush buffered data to the file (a ZLIB stream is only complete after :meth:`close`)."""
        if self._gzip is not None:
            self._gzip.flush()
        self._file.flush()

    def close(self) -> None:
        """Finish the compressed stream and close the file."""
        if self._file.closed:
            return
        if self._gzip is not None:
            self._gzip.close()
        if self._deflate is not None:
            self._file.write(self._deflate.flush())
        self._file.close()

    def __enter__(self) -> TFRecordWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
