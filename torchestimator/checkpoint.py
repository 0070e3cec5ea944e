"""Checkpoints: safetensors + JSON, written atomically, verified on load, never unpickled.

Layout of ``model_dir``::

    model_dir/
      checkpoint                     index (TF's CheckpointState text format, relative paths)
      model.ckpt-20/                 one directory per saved step
        model.safetensors            the module's tensors, named exactly as module.state_dict()
        optimizer.safetensors        every optimizer's tensor state: "<optimizer>/<param index>/<key>"
        meta.json                    {"content": {...}, "sha256": <of the canonical content>}

``meta.json`` content: ``global_step``, time, library / torch versions, sha256 of each tensor file,
``extra_state`` (the non-tensor ``state_dict`` entries, e.g. feature-column specs from
``get_extra_state``), the optimizers' non-tensor state and ``param_groups``, RNG states (torch,
numpy, python; CUDA ones as tensors) and ``input`` (the position of an interrupted ``train`` call).

Writing: everything goes into ``model_dir/.tmp-model.ckpt-<step>-<pid>/``, each file is fsynced, the
directory is renamed into place and ``model_dir`` fsynced; only then is the index rewritten (itself
via a fresh ``O_EXCL | O_NOFOLLOW`` temp file + rename). A crash at any moment leaves either the old or
the new checkpoint, never a half one under a real name; leftovers of dead writers are removed
(:func:`torchestimator.model_dir_lock.remove_stale_files`). An ``OSError`` / ``SafetensorError`` while
writing becomes a ``CheckpointError`` naming ``model_dir``, the bytes needed and the free space.

Reading: checkpoints are tried newest first; one whose metadata does not verify (checksums, structure,
``global_step`` equal to the folder's step, listed files inside the folder: see
:mod:`torchestimator.checkpoint_meta`) or whose tensors do not parse is reported with a warning and the
previous one used. The ``checkpoint`` index is written for TF tools and never read. What is guaranteed
after a crash, and what is not, is in docs/recovery.md.

Weights load into the plain module outside the Estimator::

    module.load_state_dict(torchestimator.checkpoint.load_model_state(model_dir))
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from torchestimator._version import __version__
from torchestimator.checkpoint_flat import flatten_optimizer, optimizer_states, split_tensors
from torchestimator.checkpoint_meta import TORCH_RNG_BYTES, canonical, read_meta
from torchestimator.errors import (
    CheckpointError,
    CheckpointMismatchError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
)
from torchestimator.model_dir_lock import remove_stale_files
from torchestimator.rng import rng_state

__all__ = [
    "CheckpointState",
    "checkpoint_failures",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "load_latest",
    "load_model_state",
    "save_checkpoint",
]

logger = logging.getLogger("torchestimator")

PREFIX = "model.ckpt-"
_NAME_RE = re.compile(r"^model\.ckpt-(\d+)$")
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
META_FILE = "meta.json"
INDEX_FILE = "checkpoint"
_PRESERVED = "preserved"  # marks a checkpoint kept by keep_checkpoint_every_n_hours


@dataclasses.dataclass
class CheckpointState:
    """Everything a checkpoint holds, in memory."""

    global_step: int
    model: dict[str, Any]  # state_dict: tensors and JSON-able extra states
    optimizers: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # name -> state_dict
    rng: dict[str, Any] | None = None
    input: dict[str, Any] | None = None
    path: str | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    # sharded tables left as placeholders: each rank reads its rows when sharding
    shards_deferred: bool = False


# ----------------------------------------------------------------------------------------------------
# saving


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory so a rename inside it survives a crash (a no-op where directories can't be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(
    model_dir: str | os.PathLike[str],
    global_step: int,
    model_state: Mapping[str, Any],
    optimizers: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    input_state: Mapping[str, Any] | None = None,
    keep_checkpoint_max: int | None = 5,
    keep_checkpoint_every_n_hours: float = 10000,
    save_rng: bool = True,
    rank_rng: Mapping[str, Any] | None = None,
    shards: Any = None,
) -> str:
    """Write ``model.ckpt-<global_step>`` atomically, update the index and garbage-collect.

    Args:
        model_dir: directory holding the checkpoints.
        global_step: the step this state belongs to.
        model_state: ``module.state_dict()``; non-tensor entries must be JSON-serialisable.
        optimizers: name -> ``optimizer.state_dict()``.
        input_state: the interrupted-``train`` position (see the Estimator), stored in the metadata.
        keep_checkpoint_max: keep this many newest checkpoints (None or 0: all).
        keep_checkpoint_every_n_hours: additionally keep one checkpoint per this many hours.
        save_rng: store the RNG states so a resumed run continues the same random stream.
        rank_rng: under DDP, the other ranks' RNG states (rank -> :func:`torchestimator.rng.rng_state_json`).
        shards: sharded embedding tables (:class:`torchestimator.parallel.sharded._files.ShardSet`): the ranks'
            staged shard files, adopted into the checkpoint; their tables are left out of ``model.safetensors``.

    Returns:
        The checkpoint's path.

    Raises:
        CheckpointError: non-JSON state, or the write failed (disk full, permissions): the message names
            ``model_dir``, the bytes being written and the free space left.
    """
    model_dir = Path(model_dir)
    name = f"{PREFIX}{int(global_step)}"
    tmp = model_dir / f".tmp-{name}-{os.getpid()}"
    if shards is not None:  # sharded tables: in the ranks' shard files (their placeholders are never copied)
        model_state = {k: v for k, v in model_state.items() if k not in set(shards.model_keys)}
    tensors, extra = split_tensors(model_state, "model state")
    opt_tensors, opt_meta, rng_meta = _optimizer_and_rng_state(optimizers, save_rng, rank_rng)
    size = sum(t.numel() * t.element_size() for t in (*tensors.values(), *opt_tensors.values()))
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        content = _write_files(tmp, tensors, opt_tensors)
        if shards is not None:  # the ranks' shard files (fsynced before the barrier) join the folder
            from torchestimator.parallel.sharded._files import adopt

            content["shards"], shard_files = adopt(tmp, shards)
            content["files"].update({f: _sha256(tmp / f) for f in shard_files})
        content.update(
            global_step=int(global_step),
            extra_state=extra,
            optimizers=opt_meta,
            rng=rng_meta,
            input=dict(input_state) if input_state else None,
        )
        meta = {"content": content, "sha256": hashlib.sha256(canonical(content)).hexdigest()}
        with open(tmp / META_FILE, "w") as f:
            json.dump(meta, f, allow_nan=True)
            f.flush()
            os.fsync(f.fileno())
        fsync_dir(tmp)
        final = _publish(tmp, model_dir, name)
        kept = _garbage_collect(model_dir, keep_checkpoint_max, keep_checkpoint_every_n_hours)
        _write_index(model_dir, name, kept)
    except (OSError, SafetensorError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _write_error(model_dir, name, size, exc) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return str(final)


def _optimizer_and_rng_state(
    optimizers: Mapping[str, Mapping[str, Any]] | None, save_rng: bool, rank_rng: Mapping[str, Any] | None
) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """The optimizers' tensors (+ this rank's RNG tensors) and metadata, and the RNG metadata."""
    opt_tensors: dict[str, torch.Tensor] = {}
    opt_meta: dict[str, Any] = {}
    for opt_name, state in (optimizers or {}).items():
        t, m = flatten_optimizer(opt_name, state)
        opt_tensors.update(t)
        opt_meta[opt_name] = m
    rng_meta: dict[str, Any] = {}
    if save_rng:
        rng_tensors, rng_meta = rng_state()
        opt_tensors.update(rng_tensors)
        if rank_rng:
            rng_meta["ranks"] = dict(rank_rng)
    return opt_tensors, opt_meta, rng_meta


def _publish(tmp: Path, model_dir: Path, name: str) -> Path:
    """Rename the written ``tmp`` directory to ``model_dir/name`` (replacing one of that name) and fsync."""
    final = model_dir / name
    if final.exists():  # re-saving a step (e.g. after a restart): move the old one out of the way first
        trash = model_dir / f".old-{name}-{os.getpid()}"
        final.rename(trash)
        os.replace(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, final)
    fsync_dir(model_dir)
    return final


def _write_files(
    tmp: Path, tensors: dict[str, torch.Tensor], opt_tensors: dict[str, torch.Tensor]
) -> dict[str, Any]:
    """Write and fsync the two safetensors files; return the metadata content describing them."""
    save_file(tensors, str(tmp / MODEL_FILE), metadata={"format": "pt"})
    save_file(opt_tensors, str(tmp / OPTIMIZER_FILE), metadata={"format": "pt"})
    for fname in (MODEL_FILE, OPTIMIZER_FILE):
        with open(tmp / fname, "rb") as f:
            os.fsync(f.fileno())
    return {
        "format": "torchestimator-checkpoint/1",
        "time": time.time(),
        "versions": {"torchestimator": __version__, "torch": torch.__version__},
        "files": {MODEL_FILE: _sha256(tmp / MODEL_FILE), OPTIMIZER_FILE: _sha256(tmp / OPTIMIZER_FILE)},
    }


def _write_error(model_dir: Path, name: str, size: int, exc: BaseException) -> CheckpointError:
    """A CheckpointError naming model_dir, what was being written and the free space left."""
    try:
        free = f"{shutil.disk_usage(model_dir if model_dir.exists() else model_dir.parent).free:,} bytes free"
    except OSError:
        free = "free space unknown"
    full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
    hint = (
        "free some space there (or point model_dir at a larger disk) and restart: training resumes from the "
        "last complete checkpoint"
        if full or isinstance(exc, SafetensorError)
        else "check that model_dir is writable and restart: training resumes from the last complete checkpoint"
    )
    return CheckpointError(
        f"could not write checkpoint {name} in model_dir {str(model_dir)!r}: {type(exc).__name__}: {exc}. "
        f"The checkpoint needs about {size:,} bytes; {free}. Nothing was half-written; {hint}."
    )


def _garbage_collect(model_dir: Path, keep_max: int | None, every_n_hours: float) -> list[str]:
    remove_stale_files(model_dir)
    steps = list_checkpoints(model_dir)
    if not keep_max:
        return [f"{PREFIX}{s}" for s in steps]
    keep = set(steps[-keep_max:])
    # TF also preserves one checkpoint per `keep_checkpoint_every_n_hours` among those it deletes.
    reference: float | None = None
    for step in steps[:-keep_max]:
        path = model_dir / f"{PREFIX}{step}"
        mtime = path.stat().st_mtime
        if (path / _PRESERVED).exists():
            keep.add(step)
            reference = mtime
        elif reference is None:
            reference = mtime
        elif mtime - reference >= every_n_hours * 3600:
            (path / _PRESERVED).touch()
            keep.add(step)
            reference = mtime
        if step not in keep:
            shutil.rmtree(path, ignore_errors=True)
    return [f"{PREFIX}{s}" for s in sorted(keep)]


def _write_index(model_dir: Path, latest: str, all_paths: list[str]) -> None:
    """Rewrite the TF index via a fresh temp file: O_EXCL | O_NOFOLLOW, so a planted symlink is never followed."""
    lines = [f'model_checkpoint_path: "{latest}"'] + [f'all_model_checkpoint_paths: "{p}"' for p in all_paths]
    tmp = model_dir / f".{INDEX_FILE}.tmp-{os.getpid()}-x{secrets.token_hex(8)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o644)
    try:
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, model_dir / INDEX_FILE)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


# ----------------------------------------------------------------------------------------------------
# reading


def list_checkpoints(model_dir: str | os.PathLike[str]) -> list[int]:
    """Steps of the checkpoint directories in ``model_dir``, ascending (unverified)."""
    d = Path(model_dir)
    if not d.is_dir():
        return []
    steps = [int(m.group(1)) for p in d.iterdir() if (m := _NAME_RE.match(p.name)) and p.is_dir()]
    return sorted(steps)


def _step_of(path: Path) -> int:
    m = _NAME_RE.match(path.name)
    if m is None:
        raise CorruptCheckpointError(f"{path} is not a {PREFIX}<step> directory.")
    return int(m.group(1))


def checkpoint_failures(model_dir: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Every checkpoint in ``model_dir`` that does not load, newest first, with the reason (for error messages)."""
    failures = []
    for step in reversed(list_checkpoints(model_dir)):
        path = Path(model_dir) / f"{PREFIX}{step}"
        try:
            load_checkpoint(path)
        except CheckpointError as e:
            failures.append((str(path), str(e)))
    return failures


def latest_checkpoint(model_dir: str | os.PathLike[str], *, verify: bool = True) -> str | None:
    """Path of the newest checkpoint that verifies, or None. Corrupt newer ones are warned about and skipped."""
    for step in reversed(list_checkpoints(model_dir)):
        path = Path(model_dir) / f"{PREFIX}{step}"
        if not verify:
            return str(path)
        try:
            read_meta(path, step)
        except CorruptCheckpointError as e:
            logger.warning("Skipping corrupt checkpoint: %s Falling back to the previous one.", e)
            continue
        return str(path)
    return None


def load_latest(model_dir: str | os.PathLike[str], *, assemble_shards: bool = True) -> CheckpointState | None:
    """The newest checkpoint of ``model_dir`` that loads completely, or None; corrupt newer ones are skipped."""
    for step in reversed(list_checkpoints(model_dir)):
        path = Path(model_dir) / f"{PREFIX}{step}"
        try:
            return load_checkpoint(path, assemble_shards=assemble_shards)
        except CorruptCheckpointError as e:
            logger.warning("Skipping corrupt checkpoint: %s Falling back to the previous one.", e)
    return None


def _resolve(path_or_dir: str | os.PathLike[str]) -> Path:
    p = Path(path_or_dir)
    if _NAME_RE.match(p.name) and p.is_dir():
        return p
    if p.is_dir():
        latest = latest_checkpoint(p)
        if latest is None:
            raise CheckpointNotFoundError(
                f"no valid checkpoint found in {p} (expected {PREFIX}<step>/ directories)."
            )
        return Path(latest)
    raise CheckpointNotFoundError(
        f"checkpoint path {p} does not exist; expected a model_dir or a {PREFIX}<step> directory."
    )


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    with safe_open(str(path), framework="pt") as f:
        for key in f.keys():  # noqa: SIM118 - safe_open is not a Mapping
            out[key] = f.get_tensor(key)
    return out


def load_checkpoint(path_or_dir: str | os.PathLike[str], *, assemble_shards: bool = True) -> CheckpointState:
    """Read and verify a checkpoint (a ``model.ckpt-<step>`` directory, or a model_dir's newest good one).

    ``assemble_shards=False``: sharded tables stay placeholders (``shards_deferred``); a sharded run reads each
    rank's rows from the shard files itself (:mod:`torchestimator.parallel.sharded._files`).

    Raises:
        CheckpointNotFoundError: nothing to load at ``path_or_dir``.
        CorruptCheckpointError: an explicitly named checkpoint fails verification (checksums, metadata
            structure, a tensor file safetensors cannot parse).
    """
    path = _resolve(path_or_dir)
    content = read_meta(path, _step_of(path))
    try:
        model = _read_tensors(path / MODEL_FILE)
        model.update(content.get("extra_state") or {})
        flat = _read_tensors(path / OPTIMIZER_FILE)
        rng: dict[str, Any] = {k[len("rng/") :]: v for k, v in flat.items() if k.startswith("rng/")}
        torch_rng = rng.get("torch")
        if torch_rng is not None and (torch_rng.dtype != torch.uint8 or torch_rng.numel() != TORCH_RNG_BYTES):
            raise ValueError(
                f"rng/torch is {torch_rng.dtype} of {torch_rng.numel()} values, not a generator state"
            )
        rng.update(content.get("rng") or {})
        optimizers = optimizer_states(content, flat)
        if content.get("shards"):  # sharded embedding tables: the full tables from the ranks' shard files
            from torchestimator.parallel.sharded._files import assemble, placeholders

            if assemble_shards:
                assemble(path, content["shards"], model, optimizers)
            else:
                placeholders(content["shards"], model)
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise CorruptCheckpointError(
            f"checkpoint {path}: its tensors do not load ({type(exc).__name__}: {exc})."
        ) from exc
    return CheckpointState(
        global_step=int(content["global_step"]),
        model=model,
        optimizers=optimizers,
        rng=rng,
        input=content.get("input"),
        path=str(path),
        meta=content,
        shards_deferred=bool(content.get("shards")) and not assemble_shards,
    )


def load_model_state(path_or_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The module ``state_dict`` stored in a checkpoint, ready for ``module.load_state_dict``."""
    return load_checkpoint(path_or_dir).model


def check_compatible(module: torch.nn.Module, state: Mapping[str, Any], source: str) -> None:
    """Raise CheckpointMismatchError naming missing / unexpected tensors and shape differences."""
    own = module.state_dict()
    missing = sorted(k for k in own if k not in state)
    unexpected = sorted(k for k in state if k not in own)
    shapes = [
        f"{k}: checkpoint {list(state[k].shape)} vs model {list(own[k].shape)}"
        for k in own
        if k in state
        and isinstance(own[k], torch.Tensor)
        and isinstance(state[k], torch.Tensor)
        and own[k].shape != state[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing in checkpoint: {missing[:10]}{' …' if len(missing) > 10 else ''}")
        if unexpected:
            parts.append(f"not in the model: {unexpected[:10]}{' …' if len(unexpected) > 10 else ''}")
        if shapes:
            parts.append("shape mismatch: " + "; ".join(shapes[:10]))
        raise CheckpointMismatchError(
            f"checkpoint {source} does not match the model ({type(module).__name__}): "
            + " | ".join(parts)
            + ". Was it written by a different model? Use a new model_dir or warm_start_from."
        )
