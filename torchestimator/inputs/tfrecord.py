"""TFRecord files without TensorFlow: the framing, its masked CRC32C, GZIP / ZLIB, a reader and a writer.

Each record on disk is::

    uint64  length                       little-endian
    uint32  masked_crc32c(length bytes)
    byte    data[length]
    uint32  masked_crc32c(data)

``masked_crc32c(x) = ((crc >> 15) | (crc << 17)) + 0xa282ead8`` (mod 2**32), as in TF's
``tsl/lib/hash/crc32c.h``. A compressed file (``GZIP`` / ``ZLIB``) compresses the whole framed stream.

The reader works in chunks: :func:`read_record_chunks` yields :class:`RecordChunk` objects (one bytes
buffer plus record ``starts`` / ``lengths``) so batched decoders can work on many records at once
without a Python object per record; :func:`read_records` yields plain ``bytes``.
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
            end_of_data = len(buf)
            starts, lengths, pos = _frame_records(buf, verify_checksums, path, compression, base, index)
            if starts:
                yield RecordChunk(
                    buf, np.asarray(starts, dtype=np.int64), np.asarray(lengths, dtype=np.int64), path, index
                )
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


def _frame_records(
    buf: bytes, verify_checksums: bool, path: str, compression: str, base: int, index: int
) -> tuple[list[int], list[int], int]:
    """The whole records of ``buf``: their data starts and lengths, and where the first partial one begins.

    Raises:
        DataLossError: a length or data checksum mismatch (``base`` / ``index``: where ``buf`` starts).
    """
    starts: list[int] = []
    lengths: list[int] = []
    pos = 0
    end_of_data = len(buf)
    unpack_header = _HEADER.unpack_from
    unpack_footer = _FOOTER.unpack_from
    crc32c, delta = _crc32c, _MASK_DELTA  # locals: this loop runs once per record
    while pos + 12 <= end_of_data:
        length, length_crc = unpack_header(buf, pos)
        if verify_checksums:
            c = crc32c(buf[pos : pos + 8])
            masked = (((c >> 15) | (c << 17)) + delta) & 0xFFFFFFFF
        else:
            masked = length_crc
        if masked != length_crc:
            raise DataLossError(
                f"Corrupt TFRecord in {path!r}: the length checksum of record {index + len(starts)} "
                f"at byte offset {base + pos} does not match." + _hint(path, compression)
            )
        record_end = pos + 12 + length + 4
        if record_end > end_of_data:
            break
        if verify_checksums:
            (data_crc,) = unpack_footer(buf, record_end - 4)
            c = crc32c(buf[pos + 12 : record_end - 4])
            if (((c >> 15) | (c << 17)) + delta) & 0xFFFFFFFF != data_crc:
                raise DataLossError(
                    f"Corrupt TFRecord in {path!r}: the data checksum of record {index + len(starts)} "
                    f"at byte offset {base + pos} does not match." + _hint(path, compression)
                )
        starts.append(pos + 12)
        lengths.append(length)
        pos = record_end
    return starts, lengths, pos


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


# The former private names, still imported by data/ (issue 13 renames its imports after its merge).
_open_read = open_read
