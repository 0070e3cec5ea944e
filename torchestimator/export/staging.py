"""The ``temp-<timestamp>`` folder an export is written in: durable before the rename, cleaned when abandoned.

An export is written into ``<base>/temp-<timestamp>/`` and renamed to ``<base>/<timestamp>/`` once
complete, so a reader never sees half an export. Before the rename every file and folder inside is
fsynced (:func:`fsync_tree`), so after a power loss the renamed folder is never there with empty or
short files.

A writer killed mid-export leaves its ``temp-*`` folder behind. Each writer records who it is in
``temp-*/.writer`` (``{"host": ..., "pid": ...}``, removed just before the rename), and
:func:`clean_stale_temp_dirs` (run when an export starts) removes a ``temp-*`` folder only when

- its writer file names **this host** and a **pid that no longer exists** (the writer is gone), or
- it is older than :data:`STALE_AFTER_S` (24 h) by modification time, whoever wrote it (a writer on
  another host sharing the folder, or one killed before it wrote ``.writer``).

So a concurrent export in progress (its process alive, or on another host and younger than 24 h) is
never touched, nor is the caller's own folder. A pid reused by an unrelated live process only delays
the removal to the age limit.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time

__all__ = ["STALE_AFTER_S", "WRITER_FILE", "clean_stale_temp_dirs", "fsync_tree", "write_owner"]

logger = logging.getLogger("torchestimator")
STALE_AFTER_S = 24 * 3600.0
WRITER_FILE = ".writer"


def fsync_tree(root: str) -> None:
    """fsync every regular file under ``root``, then every folder bottom-up (the folder last).

    Raises:
        OSError: a file cannot be opened or synced.
    """
    for folder, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(folder)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # folders cannot be opened on some platforms
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_owner(temp_dir: str) -> None:
    """Record this process as the writer of ``temp_dir`` (see the module docstring)."""
    with open(os.path.join(temp_dir, WRITER_FILE), "w", encoding="utf-8") as fh:
        json.dump({"host": socket.gethostname(), "pid": os.getpid()}, fh)


def _writer_gone(temp_dir: str) -> bool:
    """True when ``temp_dir``'s writer file names this host and a pid that does not exist."""
    try:
        with open(os.path.join(temp_dir, WRITER_FILE), encoding="utf-8") as fh:
            owner = json.loads(fh.read(4096))
        host, pid = owner["host"], owner["pid"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if host != socket.gethostname() or not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists but belongs to someone else (EPERM)
        return False
    return False


def clean_stale_temp_dirs(base: str, keep: str | None = None, now: float | None = None) -> list[str]:
    """Remove abandoned ``temp-*`` export folders in ``base`` (rules in the module docstring).

    Args:
        base: the export base folder.
        keep: a folder never to remove (the caller's own).
        now: the current time (tests); defaults to ``time.time()``.

    Returns:
        The folders removed.
    """
    now = time.time() if now is None else now
    removed: list[str] = []
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in sorted(names):
        path = os.path.join(base, name)
        if not name.startswith("temp-") or os.path.islink(path) or not os.path.isdir(path):
            continue
        if keep is not None and os.path.abspath(path) == os.path.abspath(keep):
            continue
        try:
            age = now - os.stat(path).st_mtime
        except OSError:
            continue
        if _writer_gone(path) or age > STALE_AFTER_S:
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.exists(path):
                logger.info("Removed abandoned export folder %s.", path)
                removed.append(path)
    return removed
