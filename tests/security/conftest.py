from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from export_fixture import Export


@pytest.fixture(scope="session")
def trained_export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return Export(str(tmp_path_factory.mktemp("security_export")))
