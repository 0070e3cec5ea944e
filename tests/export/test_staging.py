"""Export staging: every file fsynced before the rename; abandoned temp-* folders cleaned, live ones kept."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from export_cases import Case

from torchestimator.export import build_parsing_serving_input_receiver_fn, saved_model, staging
from torchestimator.export.staging import STALE_AFTER_S, WRITER_FILE, clean_stale_temp_dirs, fsync_tree


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _temp(base: Path, name: str, owner: dict[str, Any] | None, age_s: float = 0.0) -> Path:
    folder = base / name
    (folder / "variables").mkdir(parents=True)
    (folder / "variables" / "weights.safetensors").write_bytes(b"x" * 10)
    if owner is not None:
        (folder / WRITER_FILE).write_text(json.dumps(owner))
    stamp = time.time() - age_s
    os.utime(folder, (stamp, stamp))
    return folder


def test_fsync_tree_syncs_every_file_and_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    files = [tmp_path / "m.json", tmp_path / "a" / "w", tmp_path / "a" / "b" / "v.txt"]
    for f in files:
        f.write_text("data")
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(staging.os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_ino), real(fd)))
    fsync_tree(str(tmp_path))
    expected = {p.stat().st_ino for p in [*files, tmp_path, tmp_path / "a", tmp_path / "a" / "b"]}
    assert set(synced) == expected
    assert synced[-1] == tmp_path.stat().st_ino  # the folder itself last


def test_stale_temp_dirs_removed_live_ones_kept(tmp_path: Path) -> None:
    host = socket.gethostname()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = _temp(tmp_path, "temp-100", {"host": host, "pid": _dead_pid()})
        live = _temp(tmp_path, "temp-101", {"host": host, "pid": sleeper.pid})
        other_host = _temp(tmp_path, "temp-102", {"host": host + "-elsewhere", "pid": _dead_pid()})
        young_unknown = _temp(tmp_path, "temp-103", None)
        old_unknown = _temp(tmp_path, "temp-104", None, age_s=STALE_AFTER_S + 60)
        old_live = _temp(tmp_path, "temp-105", {"host": host, "pid": sleeper.pid}, age_s=STALE_AFTER_S + 60)
        mine = _temp(tmp_path, "temp-106", {"host": host, "pid": _dead_pid()})
        final = tmp_path / "107"
        final.mkdir()
        removed = clean_stale_temp_dirs(str(tmp_path), keep=str(mine))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sorted(removed) == sorted(map(str, [dead, old_unknown, old_live]))
    for kept in (live, other_host, young_unknown, mine, final):
        assert kept.exists(), kept
    for gone in (dead, old_unknown, old_live):
        assert not gone.exists(), gone


def test_export_fsyncs_before_rename_and_cleans_abandoned_folders(
    titanic_case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = {k: v for c in titanic_case.columns for k, v in c.parse_example_spec.items()}
    base = tmp_path / "exports"
    base.mkdir()
    abandoned = _temp(base, "temp-100", {"host": socket.gethostname(), "pid": _dead_pid()})
    events: list[tuple[str, Any]] = []
    real_fsync_tree, real_rename = saved_model.fsync_tree, os.rename

    def record_fsync(root: str) -> None:
        events.append(("fsync", sorted(p.name for p in Path(root).rglob("*") if p.is_file())))
        real_fsync_tree(root)

    def record_rename(src: Any, dst: Any) -> None:
        events.append(("rename", os.path.basename(src)))
        real_rename(src, dst)

    monkeypatch.setattr(saved_model, "fsync_tree", record_fsync)
    monkeypatch.setattr(saved_model.os, "rename", record_rename)
    path = titanic_case.est.export_saved_model(str(base), build_parsing_serving_input_receiver_fn(spec))
    assert [e[0] for e in events] == ["fsync", "rename"]
    assert "model.pt2" in events[0][1] and "saved_model.json" in events[0][1]
    assert WRITER_FILE not in events[0][1]
    assert events[1][1].startswith("temp-")
    assert not abandoned.exists()
    assert os.path.isdir(path) and not any(p.name.startswith("temp-") for p in base.iterdir())


def test_concurrent_export_in_the_same_second_takes_the_next_timestamp(
    titanic_case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another exporter already claimed temp-<stamp> (alive, young): this one never touches it, waits."""
    base = tmp_path / "exports"
    busy = _temp(base, "temp-1700000000", {"host": socket.gethostname(), "pid": os.getpid()})
    clock = iter([1700000000, 1700000001])
    monkeypatch.setattr(saved_model, "_timestamp", lambda: next(clock))
    monkeypatch.setattr(saved_model, "_sleep", lambda s: None)
    spec = {k: v for c in titanic_case.columns for k, v in c.parse_example_spec.items()}
    path = titanic_case.est.export_saved_model(str(base), build_parsing_serving_input_receiver_fn(spec))
    assert os.path.basename(path) == "1700000001"
    assert (busy / "variables" / "weights.safetensors").read_bytes() == b"x" * 10
