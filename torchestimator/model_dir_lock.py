"""One trainer per ``model_dir``: an exclusive ``flock`` held while ``train`` runs, and cleanup of crashed writers.

The lock is ``model_dir/.torchestimator.lock``, locked with ``fcntl.flock(LOCK_EX | LOCK_NB)`` and holding
``{"pid", "host", "since"}`` of the holder as JSON. The kernel releases a ``flock`` when its holder exits for
any reason (``kill -9`` included), so a crash never leaves a stale lock; the file itself stays and is
simply re-locked. A second trainer fails fast with :class:`~torchestimator.errors.CheckpointError`
naming the holder. Under DDP only the chief takes it (the other ranks share the chief's ``model_dir``).

``flock`` is advisory and local: processes on different hosts sharing ``model_dir`` through NFS may
not see each other's lock (see docs/recovery.md). Temp / old checkpoint folders and index temp files
of writers that died are removed when the lock is taken and after every save (:func:`remove_stale_files`).

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> with ModelDirLock(d):
...     pass
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path
from types import TracebackType

from torchestimator.errors import CheckpointError

__all__ = ["LOCK_FILE", "ModelDirLock", "remove_stale_files"]

logger = logging.getLogger("torchestimator")

LOCK_FILE = ".torchestimator.lock"
_STALE = (".tmp-model.ckpt-", ".old-model.ckpt-", ".checkpoint.tmp-")
_MAX_LOCK_BYTES = 4096
STALE_AFTER_SECS = 3600  # a live writer touches its temp folder within seconds


def _holder(fd: int) -> str:
    """What the lock file says about its holder, for the error message."""
    try:
        raw = os.pread(fd, _MAX_LOCK_BYTES, 0)
        info = json.loads(raw.decode("utf-8"))
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(info["since"])))
        return f"pid {int(info['pid'])} on host {str(info['host'])!r}, training since {since}"
    except (OSError, ValueError, KeyError, TypeError, OverflowError):
        return "another process (its lock file does not say which)"


class ModelDirLock:
    """Exclusive lock on ``model_dir`` for one training run (a context manager; re-entry is an error).

    Args:
        model_dir: the directory to lock (created if missing).

    Raises:
        CheckpointError: on ``acquire`` / ``__enter__``, when another process holds the lock.
    """

    def __init__(self, model_dir: str | os.PathLike[str]) -> None:
        self.model_dir = Path(model_dir)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        import fcntl  # POSIX only; imported here so the module imports everywhere

        self.model_dir.mkdir(parents=True, exist_ok=True)
        path = self.model_dir / LOCK_FILE
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as exc:
            raise CheckpointError(
                f"cannot open the lock file {str(path)!r} of model_dir {str(self.model_dir)!r}: {exc}. "
                "Is model_dir writable (and the lock file a regular file, not a symlink)?"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise CheckpointError(
                f"model_dir {str(self.model_dir)!r} is being trained by {holder}. Two trainers on one model_dir "
                "would overwrite each other's checkpoints; wait for it to finish, stop it, or train into a new "
                "model_dir."
            ) from None
        except OSError as exc:
            os.close(fd)
            raise CheckpointError(
                f"cannot lock model_dir {str(self.model_dir)!r} ({exc}); the file system may not support flock."
            ) from exc
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        remove_stale_files(self.model_dir, locked=True)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> ModelDirLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _writer_pid(name: str) -> int | None:
    """The writer pid in a temp name (``.tmp-model.ckpt-5-<pid>``, ``.checkpoint.tmp-<pid>-x<token>``)."""
    if not name.startswith(_STALE):
        return None
    digits = [part for part in name.split("-") if part.isdigit()]
    return int(digits[-1]) if digits else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_files(model_dir: str | os.PathLike[str], *, locked: bool = False) -> list[str]:
    """Remove temp / old checkpoint folders and index temp files left by crashed writers.

    An entry is removed when its writer pid is not alive on this host. With ``locked`` (the caller holds
    the model_dir lock, so no other trainer can be writing) an entry older than :data:`STALE_AFTER_SECS`
    is removed even if its pid is alive again (a reused pid). Never an entry of this process.

    Returns:
        The names removed.
    """
    removed: list[str] = []
    d = Path(model_dir)
    if not d.is_dir():
        return removed
    now = time.time()
    for entry in d.iterdir():
        pid = _writer_pid(entry.name)
        if pid is None or pid == os.getpid():
            continue
        if _pid_alive(pid):
            try:
                age = now - entry.lstat().st_mtime
            except OSError:
                continue
            if not locked or age < STALE_AFTER_SECS:
                continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
        removed.append(entry.name)
    if removed:
        logger.info("Removed files of crashed checkpoint writers in %s: %s", d, sorted(removed))
    return removed
