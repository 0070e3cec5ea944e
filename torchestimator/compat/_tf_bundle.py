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

The byte-level formats are decoded in :mod:`torchestimator.compat._bundle_format`. Every index block
and every tensor is checked against its masked CRC32C; a mismatch raises
:class:`~torchestimator.errors.CorruptCheckpointError`. Partitioned variables (saved by a ``Saver``
as slices of the full variable) are reassembled. Nothing is executed or unpickled.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from torchestimator.compat._bundle_format import TFEntry, decode_slice_key, fields, read_table
from torchestimator.errors import CheckpointNotFoundError, CorruptCheckpointError, TorchEstimatorError
from torchestimator.file_policy import resolve_inside
from torchestimator.inputs.tfrecord import masked_crc32c

__all__ = ["TFBundle", "TFEntry", "find_tf_checkpoint", "is_tf_checkpoint"]

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


# ---- locating a checkpoint ------------------------------------------------------------------------


def is_tf_checkpoint(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a TF checkpoint: a prefix with an ``.index``, a model_dir or a SavedModel."""
    try:
        find_tf_checkpoint(path)
    except CheckpointNotFoundError:
        return False
    return True


def _latest_from_state_file(model_dir: Path) -> Path | None:
    """The newest checkpoint named by ``model_dir/checkpoint``, looked up by file name inside model_dir.

    Old TF wrote absolute paths there; only the file name is used, so a moved model_dir still works and
    the state file never leads outside its folder.
    """
    state = model_dir / "checkpoint"
    if not state.is_file():
        return None
    for line in state.read_text(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("model_checkpoint_path:"):
            name = line.split(":", 1)[1].strip().strip('"').replace("\\", "/").rsplit("/", 1)[-1]
            if not name or name in (".", ".."):
                return None
            try:
                index = resolve_inside(model_dir, f"{name}.index", what="TF checkpoint index")
            except TorchEstimatorError:
                return None
            return index.with_name(name)
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
        table = read_table(Path(f"{self.prefix}.index"))
        self._num_shards = 1
        self._big_endian = False
        self._entries: dict[str, TFEntry] = {}
        self._slices: dict[str, dict[tuple[tuple[int, int], ...], TFEntry]] = {}
        for key, value in table.items():
            if key == b"":
                for number, v in fields(value):
                    if number == 1 and isinstance(v, int):
                        self._num_shards = v
                    elif number == 2 and isinstance(v, int):
                        self._big_endian = v == 1
            elif key[:1] == b"\x00":
                name, extents = decode_slice_key(key)
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
