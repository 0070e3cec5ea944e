"""Reading a checkpoint's ``meta.json``: every parse or structure failure is a ``CorruptCheckpointError``.

``meta.json`` is data read from disk; anyone who can write ``model_dir`` can edit it and recompute its
checksum. So the reader trusts nothing: the file itself must be a regular file inside the checkpoint
folder, of bounded size; JSON that nests too deeply, a missing key or a value of the wrong type is a
corrupt checkpoint (the caller falls back to the previous one), never a raw ``KeyError`` /
``RecursionError``; the ``files`` it lists go through :mod:`torchestimator.file_policy` (no ``..``, no
absolute path, no device such as ``/dev/zero``) and are verified against their recorded sha256; the
``global_step`` inside must equal the step in the folder's name.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torchestimator.errors import CorruptCheckpointError
from torchestimator.file_policy import resolve_inside, verify_sha256

__all__ = ["MAX_META_BYTES", "canonical", "read_meta", "validate_content"]

META_FILE = "meta.json"
MAX_META_BYTES = 64 << 20  # meta.json holds JSON-able extra state; far larger is refused, never read
_TENSOR_FILES = ("model.safetensors", "optimizer.safetensors")
TORCH_RNG_BYTES = 5056  # torch.get_rng_state().numel() (the CPU Mersenne Twister generator)


def canonical(obj: Any) -> bytes:
    """The bytes the meta checksum is computed over (sorted keys, no spaces)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()


def _fail(path: Path, what: str) -> CorruptCheckpointError:
    return CorruptCheckpointError(f"checkpoint {path}: {META_FILE} {what}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_float(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _hex_of_size(value: Any, size: int | None) -> bool:
    if not isinstance(value, str):
        return False
    try:
        data = bytes.fromhex(value)
    except ValueError:
        return False
    return size is None or len(data) == size


def _expect(path: Path, ok: bool, what: str) -> None:
    if not ok:
        raise _fail(path, what)


def _check_rng(path: Path, rng: Any) -> None:
    _expect(path, isinstance(rng, dict), f"field 'rng' must be an object, received {type(rng).__name__}.")
    if "numpy" in rng:  # present means valid: a null state is corrupt too (restore would read it)
        numpy_state = rng["numpy"]
        ok = (
            isinstance(numpy_state, dict)
            and numpy_state.get("kind") == "MT19937"
            and isinstance(numpy_state.get("keys"), list)
            and len(numpy_state["keys"]) == 624
            and all(_is_int(k) and 0 <= k < 2**32 for k in numpy_state["keys"])
            and _is_int(numpy_state.get("pos"))
            and 0 <= numpy_state["pos"] <= 624
            and numpy_state.get("has_gauss") in (0, 1)
            and not isinstance(numpy_state.get("has_gauss"), bool)
            and _is_float(numpy_state.get("gauss"))
        )
        _expect(path, ok, "field 'rng.numpy' is not a numpy MT19937 state.")
    if "python" in rng:
        python_state = rng["python"]
        ok = (
            isinstance(python_state, dict)
            and python_state.get("version") == 3
            and not isinstance(python_state.get("version"), bool)
            and isinstance(python_state.get("state"), list)
            and len(python_state["state"]) == 625
            and all(_is_int(k) and 0 <= k < 2**32 for k in python_state["state"][:624])
            and _is_int(python_state["state"][624])
            and 0 <= python_state["state"][624] <= 624
            and "gauss" in python_state
            and (python_state["gauss"] is None or _is_float(python_state["gauss"]))
        )
        _expect(path, ok, "field 'rng.python' is not a python random state.")
    ranks = rng.get("ranks")
    if ranks is not None:
        _expect(path, isinstance(ranks, dict), "field 'rng.ranks' must be an object.")
        for rank, state in ranks.items():
            _expect(
                path, rank.isdigit() and isinstance(state, dict), f"field 'rng.ranks.{rank}' is malformed."
            )
            _expect(
                path,
                _hex_of_size(state.get("torch"), TORCH_RNG_BYTES),
                f"field 'rng.ranks.{rank}.torch' must be a torch generator state in hex.",
            )
            cuda = state.get("cuda", [])
            _expect(
                path,
                isinstance(cuda, list) and all(_hex_of_size(c, None) for c in cuda),
                f"field 'rng.ranks.{rank}.cuda' must be a list of hex strings.",
            )
            _check_rng(path, {k: v for k, v in state.items() if k in ("numpy", "python")})


def _check_input(path: Path, state: Any) -> None:
    if state is None:
        return
    ok = (
        isinstance(state, dict)
        and (state.get("last_step") is None or _is_int(state.get("last_step")))
        and _is_int(state.get("batches_consumed", 0))
        and state.get("batches_consumed", 0) >= 0
        and (
            state.get("shuffle_seed") is None
            or (_is_int(state["shuffle_seed"]) and state["shuffle_seed"] >= 0)
        )
    )
    _expect(path, ok, f"field 'input' is malformed: {state!r:.200}.")


def _check_optimizers(path: Path, optimizers: Any) -> None:
    _expect(path, isinstance(optimizers, dict), "field 'optimizers' must be an object.")
    for name, entry in optimizers.items():
        ok = (
            isinstance(entry, dict)
            and isinstance(entry.get("scalars"), dict)
            and all(k.isdigit() and isinstance(v, dict) for k, v in entry["scalars"].items())
            and isinstance(entry.get("param_groups"), list)
            and all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in entry["param_groups"])
        )
        _expect(path, ok, f"optimizer {name!r} entry is malformed.")


def validate_content(path: Path, content: Any, step: int) -> dict[str, Any]:
    """Check the structure of ``meta.json``'s ``content`` (types, keys, ``global_step == step``).

    Raises:
        CorruptCheckpointError: naming the first field that is missing or has the wrong type.
    """
    _expect(path, isinstance(content, dict), f"content must be an object, received {type(content).__name__}.")
    global_step = content.get("global_step")
    _expect(path, _is_int(global_step), f"field 'global_step' must be an int, received {global_step!r:.80}.")
    _expect(
        path,
        global_step == step,
        f"says global_step {global_step} but the folder is step {step} (renamed or edited); refusing to load it.",
    )
    files = content.get("files")
    _expect(
        path,
        isinstance(files, dict) and set(_TENSOR_FILES) <= set(files),
        f"field 'files' must list {list(_TENSOR_FILES)} with their sha256.",
    )
    extra = content.get("extra_state", {})
    _expect(path, isinstance(extra, dict), "field 'extra_state' must be an object.")
    _check_optimizers(path, content.get("optimizers", {}))
    _check_rng(path, content.get("rng") or {})
    _check_input(path, content.get("input"))
    return content


def read_meta(path: Path, step: int) -> dict[str, Any]:
    """Read, checksum and validate ``path/meta.json``, then verify the files it lists.

    Raises:
        CorruptCheckpointError: the file is missing, too large, not JSON, too deeply nested, fails its
            checksum or structure checks, or a listed file is outside the folder, missing or changed.
    """
    if path.is_symlink():
        raise CorruptCheckpointError(
            f"checkpoint {path} is a symlink (to {os.readlink(path)!r}); checkpoints are read only from folders "
            "inside model_dir."
        )
    meta_path = path / META_FILE
    if not meta_path.exists() and not meta_path.is_symlink():
        raise CorruptCheckpointError(f"checkpoint {path} has no {META_FILE} (an interrupted write?).")
    target = resolve_inside(path, META_FILE, what="checkpoint metadata", error=CorruptCheckpointError)
    try:
        with open(target, "rb") as fh:
            raw = fh.read(MAX_META_BYTES + 1)
    except OSError as exc:
        raise _fail(path, f"cannot be read: {exc}.") from exc
    if len(raw) > MAX_META_BYTES:
        raise _fail(path, f"is larger than {MAX_META_BYTES} bytes; refusing to read it.")
    try:
        meta = json.loads(raw.decode("utf-8"))  # too deep a nesting raises RecursionError, caught below
        content, expected = meta["content"], meta["sha256"]
        actual = hashlib.sha256(canonical(content)).hexdigest()
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise _fail(path, f"is unreadable ({type(exc).__name__}: {exc}).") from exc
    if actual != expected:
        raise _fail(path, f"checksum mismatch (expected {str(expected)[:12]}…, got {actual[:12]}…).")
    content = validate_content(path, content, step)
    files: Mapping[str, Any] = content["files"]
    for fname, digest in files.items():
        fpath = resolve_inside(path, fname, what="checkpoint file", error=CorruptCheckpointError)
        verify_sha256(fpath, digest, what="checkpoint file", error=CorruptCheckpointError)
    return dict(content)
