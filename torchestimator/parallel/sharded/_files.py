"""Per-rank shard files of sharded embedding tables inside an ordinary checkpoint directory.

While a sharded table trains, no rank holds the full table: each checkpoint save has every rank write the rows /
columns it holds (and their FBGEMM Adagrad accumulator) as ``rank-<r>.safetensors`` plus ``rank-<r>.json`` (which
piece of which table each tensor is) into ``model_dir/.shards-staging-model.ckpt-<step>/``, each file written under
a temp name, fsynced and renamed. After a barrier the chief *adopts* them: moves them into its temp checkpoint
directory as ``shards/rank-<r>.*``, lists them with their sha256 in ``meta.json`` ``files`` (so the ordinary
verification checks them: a missing or altered shard file makes the checkpoint corrupt, named, and skipped), and
publishes the directory with the usual atomic rename. Layout::

    model.ckpt-20/
      model.safetensors        every tensor except the sharded tables
      optimizer.safetensors    every optimizer state except the sharded tables' accumulators
      shards/rank-0.safetensors, shards/rank-0.json, shards/rank-1.safetensors, ...
      meta.json                content["shards"] = {"world_size": W, "tables": {<state_dict key>: {"shape": [R, C],
                               "optimizer": <name>, "index": <param index>, "step": <Adagrad step> | null}}}

Resuming a sharded run (:func:`placeholders`, then :func:`read_region` per shard) reads only the rows / columns
each rank holds, whatever the world size that wrote them (safetensors slices of the pieces that overlap).
Reading everything else (:func:`assemble`) puts the full tables back into the state an unsharded run would have saved (the
table under its ``state_dict`` key, the accumulator as the optimizer's ``sum`` / ``step``), so a sharded
checkpoint resumes in one process, on another world size, and serves ``get_variable_value`` and export. That
needs the full table's memory once, in the reading process. Nothing is unpickled: safetensors and JSON only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from torchestimator.errors import CorruptCheckpointError
from torchestimator.file_policy import resolve_inside

__all__ = [
    "SHARD_DIR",
    "ShardSet",
    "adopt",
    "assemble",
    "placeholders",
    "read_region",
    "staging_dir",
    "write_rank_files",
]

SHARD_DIR = "shards"
_STAGING = ".shards-staging-"


@dataclasses.dataclass
class ShardSet:
    """What the chief needs to adopt the ranks' shard files of one save.

    Attributes:
        staging: the folder the ranks wrote into.
        world_size: how many ``rank-<r>`` file pairs it must hold.
        step: the global step they belong to.
        tables: ``state_dict`` key -> ``{"shape", "optimizer", "index", "step"}`` (see the module docstring).
    """

    staging: Path
    world_size: int
    step: int
    tables: dict[str, dict[str, Any]]

    @property
    def model_keys(self) -> list[str]:
        """The module ``state_dict`` keys the shard files hold instead of ``model.safetensors``."""
        return list(self.tables)


def staging_dir(model_dir: str | os.PathLike[str], step: int) -> Path:
    return Path(model_dir) / f"{_STAGING}model.ckpt-{int(step)}"


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _replace_atomically(tmp: Path, final: Path) -> None:
    _fsync_file(tmp)
    os.replace(tmp, final)


_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64"}


def stream_safetensors(path: Path, tensors: Mapping[str, torch.Tensor]) -> None:
    """Write a safetensors file tensor by tensor from the tensors' own memory (``save_file`` would first build
    the whole file in memory: a rank's shards once more). The format: an 8-byte little-endian header length,
    the JSON header (dtype, shape, byte offsets; padded to 8 bytes), then the raw little-endian bytes."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, t in tensors.items():
        size = t.numel() * t.element_size()
        header[name] = {
            "dtype": _DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        for t in tensors.values():
            flat = t.detach().cpu().contiguous().view(-1)  # a view when the shard is contiguous (row / table)
            f.write(flat.view(torch.uint8).numpy().data)  # the tensor's bytes, not a copy
        f.flush()
        os.fsync(f.fileno())


def write_rank_files(
    staging: Path,
    rank: int,
    world_size: int,
    step: int,
    pieces: list[dict[str, Any]],
    tensors: dict[str, torch.Tensor],
) -> None:
    """Write this rank's ``rank-<r>.safetensors`` and ``rank-<r>.json`` into ``staging`` (temp name, fsync, rename).

    Args:
        staging: the step's staging folder (created if missing).
        rank: this process's rank.
        world_size: the number of ranks writing.
        step: the global step.
        pieces: ``{"tensor", "table", "kind" ('weight' | 'accumulator'), "offsets" [row, col], "sizes" [rows, cols]}``.
        tensors: tensor name -> the piece's values (contiguous ``(rows, cols)``).
    """
    staging.mkdir(parents=True, exist_ok=True)
    base = staging / f"rank-{rank}"
    tmp = staging / f".rank-{rank}.safetensors.tmp-{os.getpid()}"
    stream_safetensors(tmp, tensors)
    _replace_atomically(tmp, base.with_suffix(".safetensors"))
    index = {"rank": rank, "world_size": world_size, "step": int(step), "pieces": pieces}
    tmp_json = staging / f".rank-{rank}.json.tmp-{os.getpid()}"
    tmp_json.write_text(json.dumps(index))
    _replace_atomically(tmp_json, base.with_suffix(".json"))
    fd = os.open(staging, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def adopt(tmp_checkpoint: Path, shards: ShardSet) -> tuple[dict[str, Any], list[str]]:
    """Move the ranks' staged files into ``tmp_checkpoint/shards/`` (chief only, after every rank wrote).

    Returns:
        ``meta.json``'s ``shards`` entry and the relative names of the adopted files (to checksum and list).

    Raises:
        OSError: a rank's file is missing or belongs to another step / world size (the save fails; nothing is
            published).
    """
    dest = tmp_checkpoint / SHARD_DIR
    dest.mkdir()
    names = []
    for rank in range(shards.world_size):
        index = json.loads((shards.staging / f"rank-{rank}.json").read_text())
        if index.get("step") != shards.step or index.get("world_size") != shards.world_size:
            raise OSError(
                f"shard file {shards.staging / f'rank-{rank}.json'} is for step {index.get('step')} of "
                f"{index.get('world_size')} ranks, expected step {shards.step} of {shards.world_size}"
            )
        for suffix in (".safetensors", ".json"):
            name = f"rank-{rank}{suffix}"
            os.replace(shards.staging / name, dest / name)
            names.append(f"{SHARD_DIR}/{name}")
    fd = os.open(dest, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    shutil.rmtree(shards.staging, ignore_errors=True)
    for old in tmp_checkpoint.parent.glob(f"{_STAGING}*"):  # leftovers of saves that never published
        shutil.rmtree(old, ignore_errors=True)
    return {"world_size": shards.world_size, "tables": shards.tables}, names


def _corrupt(path: Path, what: str) -> CorruptCheckpointError:
    return CorruptCheckpointError(
        f"checkpoint {path}: {what}. Every shard file a sharded checkpoint lists must be present and complete: "
        "restore the files, or delete this checkpoint folder to resume from the previous one."
    )


def assemble(
    path: Path, entry: Mapping[str, Any], model: dict[str, Any], optimizers: dict[str, dict[str, Any]]
) -> None:
    """Rebuild the full tables (and Adagrad state) of ``meta.json``'s ``shards`` entry into ``model`` / ``optimizers``.

    Raises:
        CorruptCheckpointError: a shard file is missing, unreadable, or the pieces do not cover every table.
    """
    try:
        world_size, tables = int(entry["world_size"]), dict(entry["tables"])
        full: dict[tuple[str, str], torch.Tensor] = {}
        covered: dict[tuple[str, str], int] = {}
        for key, info in tables.items():
            shape = tuple(int(n) for n in info["shape"])
            full[(key, "weight")] = torch.zeros(shape)
            if info.get("optimizer") is not None:
                full[(key, "accumulator")] = torch.zeros(shape)
        for rank in range(world_size):
            files = [f"{SHARD_DIR}/rank-{rank}{s}" for s in (".json", ".safetensors")]
            index_path, tensor_path = (
                resolve_inside(path, f, what="checkpoint shard file", error=CorruptCheckpointError)
                for f in files
            )
            index = json.loads(index_path.read_text())
            with safe_open(str(tensor_path), framework="pt") as f:
                for piece in index["pieces"]:
                    target = (str(piece["table"]), str(piece["kind"]))
                    (r0, c0), (nr, nc) = piece["offsets"], piece["sizes"]
                    full[target][r0 : r0 + nr, c0 : c0 + nc] = f.get_tensor(piece["tensor"]).reshape(nr, nc)
                    covered[target] = covered.get(target, 0) + nr * nc
    except CorruptCheckpointError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError, RuntimeError) as exc:
        raise _corrupt(path, f"its shard files do not load ({type(exc).__name__}: {exc})") from exc
    for target, tensor in full.items():
        if covered.get(target, 0) != tensor.numel():
            raise _corrupt(
                path, f"the shard files cover {covered.get(target, 0)} of {tensor.numel()} values of {target}"
            )
    for key, info in tables.items():
        model[key] = full[(key, "weight")]
        if info.get("optimizer") is not None:
            state = optimizers.setdefault(str(info["optimizer"]), {"state": {}, "param_groups": []})["state"]
            slot = {"sum": full[(key, "accumulator")]}
            if info.get("step") is not None:
                slot["step"] = torch.tensor(float(info["step"]))
            state[int(info["index"])] = slot


def placeholders(entry: Mapping[str, Any], model: dict[str, Any]) -> None:
    """Stand-ins for the sharded tables (their shape over one element) when each rank reads its own rows instead."""
    for key, info in dict(entry["tables"]).items():
        model[key] = torch.zeros(1).expand(*(int(n) for n in info["shape"]))


def read_region(
    path: Path,
    entry: Mapping[str, Any],
    table: str,
    kind: str,
    offsets: tuple[int, int],
    sizes: tuple[int, int],
) -> torch.Tensor:
    """Rows ``[r0, r0 + nr)`` x columns ``[c0, c0 + nc)`` of a table (``kind``: 'weight' or 'accumulator').

    Reads only the overlapping parts of the pieces that hold them (safetensors slices), so a rank re-sharded onto a
    different world size needs memory for its own region only.

    Raises:
        CorruptCheckpointError: a shard file does not load, or its pieces do not cover the region.
    """
    (r0, c0), (nr, nc) = offsets, sizes
    out = torch.empty(nr, nc)
    covered = 0
    try:
        for rank in range(int(entry["world_size"])):
            index_path, tensor_path = (
                resolve_inside(
                    path,
                    f"{SHARD_DIR}/rank-{rank}{s}",
                    what="checkpoint shard file",
                    error=CorruptCheckpointError,
                )
                for s in (".json", ".safetensors")
            )
            pieces = [
                p
                for p in json.loads(index_path.read_text())["pieces"]
                if p["table"] == table and p["kind"] == kind
            ]
            if not pieces:
                continue
            with safe_open(str(tensor_path), framework="pt") as f:
                for piece in pieces:
                    (pr, pc), (pnr, pnc) = piece["offsets"], piece["sizes"]
                    top, bottom = max(r0, pr), min(r0 + nr, pr + pnr)
                    left, right = max(c0, pc), min(c0 + nc, pc + pnc)
                    if top >= bottom or left >= right:
                        continue
                    part = f.get_slice(piece["tensor"])[top - pr : bottom - pr, left - pc : right - pc]
                    out[top - r0 : bottom - r0, left - c0 : right - c0] = part
                    covered += (bottom - top) * (right - left)
    except CorruptCheckpointError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError, RuntimeError) as exc:
        raise _corrupt(path, f"its shard files do not load ({type(exc).__name__}: {exc})") from exc
    if covered != nr * nc:
        raise _corrupt(
            path, f"the shard files cover {covered} of the {nr * nc} values of {table} ({kind}) a rank needs"
        )
    return out
