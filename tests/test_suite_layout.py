"""Test modules have unique basenames: pytest imports them by rootdir-relative name, so two ``test_cli.py`` in
different folders (or a test importing ``conftest`` by name) silently pick the wrong module."""

from __future__ import annotations

import collections
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_test_module_basenames_are_unique():
    names = collections.Counter(p.name for p in TESTS.rglob("test_*.py") if "fixtures" not in p.parts)
    assert [n for n, c in names.items() if c > 1] == []


def test_no_test_imports_conftest_by_name():
    offenders = [
        str(p.relative_to(TESTS))
        for p in TESTS.rglob("*.py")
        if p.name != Path(__file__).name
        and ("from conftest import" in p.read_text() or "import conftest" in p.read_text())
    ]
    assert offenders == []
