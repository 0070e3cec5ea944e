"""TFRecord framing: TF-written files read back identically; our files are byte-identical to TF's; corruption."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pytest
from inputs_fixtures import FIXTURES, load

from torchestimator.errors import DataLossError, InvalidArgumentError
from torchestimator.inputs.tfrecord import TFRecordWriter, masked_crc32c, read_record_chunks, read_records

RECORDS = [bytes.fromhex(h) for h in load("examples.json")["serialized_hex"]]


def test_masked_crc32c_matches_known_crc32c_vectors() -> None:
    # CRC32C check values (RFC 3720 B.4 / TF crc32c_test.cc), masked as TF masks them.
    def mask(crc: int) -> int:
        return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    assert masked_crc32c(b"123456789") == mask(0xE3069283)
    assert masked_crc32c(bytes(32)) == mask(0x8A9136AA)
    assert masked_crc32c(b"\xff" * 32) == mask(0x62A8AB43)


@pytest.mark.parametrize(
    ("name", "compression"),
    [("examples.tfrecord", None), ("examples.tfrecord.gz", "GZIP"), ("examples.tfrecord.zz", "ZLIB")],
)
def test_reads_tf_written_files(name: str, compression: str | None) -> None:
    assert list(read_records(str(FIXTURES / name), compression)) == RECORDS


def test_writer_output_is_byte_identical_to_tf(tmp_path: Path) -> None:
    path = tmp_path / "ours.tfrecord"
    with TFRecordWriter(path) as writer:
        for record in RECORDS:
            writer.write(record)
    assert path.read_bytes() == (FIXTURES / "examples.tfrecord").read_bytes()


@pytest.mark.parametrize("compression", ["GZIP", "ZLIB"])
def test_compressed_writer_decompresses_to_tf_stream(tmp_path: Path, compression: str) -> None:
    path = tmp_path / "ours.tfrecord"
    with TFRecordWriter(path, compression) as writer:
        for record in RECORDS:
            writer.write(record)
    raw = gzip.decompress(path.read_bytes()) if compression == "GZIP" else zlib.decompress(path.read_bytes())
    assert raw == (FIXTURES / "examples.tfrecord").read_bytes()
    assert list(read_records(str(path), compression)) == RECORDS


def _record_offsets() -> list[int]:
    offsets, pos = [], 0
    for record in RECORDS:
        offsets.append(pos)
        pos += 16 + len(record)
    return offsets


def test_flipped_data_byte_raises_with_file_and_offset(tmp_path: Path) -> None:
    data = bytearray((FIXTURES / "examples.tfrecord").read_bytes())
    third = _record_offsets()[2]
    data[third + 12 + 5] ^= 0x01  # inside the data of record 2
    path = tmp_path / "flipped.tfrecord"
    path.write_bytes(bytes(data))
    with pytest.raises(DataLossError) as info:
        list(read_records(str(path)))
    message = str(info.value)
    assert str(path) in message
    assert f"byte offset {third}" in message
    assert "data checksum of record 2" in message


def test_flipped_length_byte_raises(tmp_path: Path) -> None:
    data = bytearray((FIXTURES / "examples.tfrecord").read_bytes())
    second = _record_offsets()[1]
    data[second] ^= 0x40
    path = tmp_path / "flipped.tfrecord"
    path.write_bytes(bytes(data))
    with pytest.raises(DataLossError, match=f"length checksum of record 1 at byte offset {second}"):
        list(read_records(str(path)))


def test_truncated_file_raises_after_the_whole_records(tmp_path: Path) -> None:
    data = (FIXTURES / "examples.tfrecord").read_bytes()
    path = tmp_path / "cut.tfrecord"
    path.write_bytes(data[:-3])
    got = []
    with pytest.raises(DataLossError, match="Truncated"):
        for record in read_records(str(path)):
            got.append(record)
    assert got == RECORDS[:-1]


def test_gzip_file_without_compression_type_suggests_it() -> None:
    with pytest.raises(DataLossError, match="compression_type='GZIP'"):
        list(read_records(str(FIXTURES / "examples.tfrecord.gz")))


def test_unknown_compression_type() -> None:
    with pytest.raises(InvalidArgumentError, match="'LZ4'"):
        list(read_records(str(FIXTURES / "examples.tfrecord"), "LZ4"))


def test_chunks_span_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchestimator.inputs.tfrecord as tfrecord

    monkeypatch.setattr(tfrecord, "_CHUNK_BYTES", 50)  # records straddle every read
    chunks = list(read_record_chunks(str(FIXTURES / "examples.tfrecord")))
    assert [r for c in chunks for r in c.records()] == RECORDS
    assert [c.first_index for c in chunks] == sorted({c.first_index for c in chunks})


def test_vectorised_length_crcs_match_masked_crc32c() -> None:
    import numpy as np

    from torchestimator.inputs.tfrecord import _header_crcs

    rng = np.random.default_rng(3)
    buf = rng.integers(0, 256, 8 * 200, dtype=np.uint8)
    heads = np.arange(0, 8 * 200, 8, dtype=np.int64)
    expected = [masked_crc32c(buf[h : h + 8].tobytes()) for h in heads]
    assert _header_crcs(buf, heads).tolist() == expected


def test_length_flipped_to_huge_is_a_length_error_not_truncation(tmp_path: Path) -> None:
    data = bytearray((FIXTURES / "examples.tfrecord").read_bytes())
    second = _record_offsets()[1]
    data[second + 6] ^= 0x01  # the length now claims ~2**48 bytes
    path = tmp_path / "huge.tfrecord"
    path.write_bytes(bytes(data))
    with pytest.raises(DataLossError, match=f"length checksum of record 1 at byte offset {second}"):
        list(read_records(str(path)))


@pytest.mark.parametrize("chunk_bytes", [50, 1 << 20])
def test_first_of_two_corrupt_records_is_reported_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_bytes: int
) -> None:
    import torchestimator.inputs.tfrecord as tfrecord

    monkeypatch.setattr(tfrecord, "_CHUNK_BYTES", chunk_bytes)
    data = bytearray((FIXTURES / "examples.tfrecord").read_bytes())
    offsets = _record_offsets()
    data[offsets[-1] + 12] ^= 0x80  # data of the last record
    data[offsets[2] + 8] ^= 0x01  # length CRC of record 2
    path = tmp_path / "two.tfrecord"
    path.write_bytes(bytes(data))
    got = []
    with pytest.raises(DataLossError, match=f"length checksum of record 2 at byte offset {offsets[2]}"):
        for chunk in read_record_chunks(str(path)):
            got.extend(chunk.records())
    assert got == RECORDS[: len(got)] and len(got) <= 2
