"""One policy for every path and file read back from JSON we wrote (checkpoints, exports, vocabulary assets).

A name read from ``meta.json`` or an export manifest is data, not a path: an attacker who edits the JSON must
not be able to make us read ``/etc/passwd``, ``../../secret`` or ``/dev/zero`` (which never ends). So:

- :func:`resolve_inside` accepts a plain relative name only, resolves symlinks, and requires the result to be a
  *regular file* strictly inside the folder (no ``..`` escape, no absolute path, no device, FIFO or directory);
- :func:`verify_sha256` streams the file with a size cap and compares the digest recorded at write time.

Both raise the caller's error class (``CorruptCheckpointError`` for checkpoints, ``ExportError`` for exports),
so each reader keeps its own fallback behaviour.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "a.txt").write_text("x")
>>> resolve_inside(d, "a.txt", what="vocabulary file").name
'a.txt'
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from torchestimator.errors import TorchEstimatorError

__all__ = ["MAX_FILE_BYTES", "resolve_inside", "sha256_of", "verify_sha256"]

# No file we write (weights, vocabularies, ONNX graphs) approaches this; a larger one is refused rather than read.
MAX_FILE_BYTES = 1 << 40
_CHUNK = 1 << 20


def resolve_inside(
    folder: str | os.PathLike[str],
    name: object,
    *,
    what: str,
    error: type[TorchEstimatorError] = TorchEstimatorError,
) -> Path:
    """Return ``folder/name`` resolved, after checking it is a regular file inside ``folder``.

    Args:
        folder: The folder the JSON file describes (a checkpoint directory, an export directory).
        name: The file name read from JSON. Must be a non-empty relative ``str`` without ``..`` parts.
        what: What the file is, for the error message ("checkpoint file", "vocabulary file").
        error: The exception class to raise.

    Returns:
        The resolved path.

    Raises:
        error: ``name`` is not a string, is absolute, escapes ``folder``, does not exist, or is not a regular file.
    """
    base = Path(folder).resolve()
    if not isinstance(name, str) or not name or "\x00" in name:
        raise error(f"{what} in {str(base)!r}: expected a relative file name, received {name!r}.")
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts:
        raise error(
            f"{what} {name!r} in {str(base)!r} is outside its folder: only plain relative names are accepted."
        )
    target = (base / rel).resolve()
    if base not in target.parents:
        raise error(f"{what} {name!r} in {str(base)!r} resolves to {str(target)!r}, outside its folder.")
    try:
        mode = os.stat(target).st_mode
    except OSError as exc:
        raise error(f"{what} {name!r} in {str(base)!r} cannot be read: {exc.strerror or exc}.") from exc
    if not stat.S_ISREG(mode):
        raise error(f"{what} {name!r} in {str(base)!r} is not a regular file.")
    return target


def sha256_of(path: str | os.PathLike[str], *, limit: int = MAX_FILE_BYTES) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks; refuses files over ``limit`` bytes.

    Raises:
        OSError: The file cannot be read.
        ValueError: The file is larger than ``limit``.
    """
    digest = hashlib.sha256()
    seen = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            seen += len(chunk)
            if seen > limit:
                raise ValueError(f"{os.fspath(path)!r} is larger than {limit} bytes")
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(
    path: str | os.PathLike[str],
    expected: object,
    *,
    what: str,
    error: type[TorchEstimatorError] = TorchEstimatorError,
) -> None:
    """Check that the file's SHA-256 equals ``expected`` (the digest recorded when it was written).

    Raises:
        error: ``expected`` is not a 64-character hex string, the file cannot be read, or the digests differ.
    """
    if not isinstance(expected, str) or len(expected) != 64:
        raise error(f"{what} {os.fspath(path)!r}: recorded sha256 is malformed ({expected!r}).")
    try:
        actual = sha256_of(path)
    except (OSError, ValueError) as exc:
        raise error(f"{what} {os.fspath(path)!r} cannot be read: {exc}.") from exc
    if actual != expected.lower():
        raise error(
            f"{what} {os.fspath(path)!r} has changed since it was written: sha256 {actual}, "
            f"recorded {expected}."
        )
