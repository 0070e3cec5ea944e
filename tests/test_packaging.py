"""The sdist builds with complete metadata, carries its tests, and those tests run from the unpacked source."""

from __future__ import annotations

import email
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sdist")
    code = f"import setuptools.build_meta as b; print(b.build_sdist({str(out)!r}))"
    name = (
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    with tarfile.open(out / name) as tar:
        tar.extractall(out, filter="data")
    return out / name.removesuffix(".tar.gz")


@pytest.mark.slow
def test_metadata(sdist: Path):
    meta = email.message_from_string((sdist / "PKG-INFO").read_text())
    assert meta["License-Expression"] == "Apache-2.0"
    assert "LICENSE" in meta.get_all("License-File")
    classifiers = meta.get_all("Classifier")
    assert "Typing :: Typed" in classifiers
    assert any(c.startswith("Programming Language :: Python :: 3.") for c in classifiers)
    assert not any(c.startswith("License ::") for c in classifiers)  # the SPDX expression says it
    extras = set(meta.get_all("Provides-Extra"))
    assert {"onnx", "pandas", "test"} <= extras
    assert "tf" not in extras  # TensorFlow lives in its own venv (scripts/setup_tf_venv.sh)
    xla = [r for r in meta.get_all("Requires-Dist") if 'extra == "xla"' in r]
    assert any(r.startswith("torch-xla") and "~=" in r for r in xla), xla  # pinned with its torch
    assert (sdist / "LICENSE").read_text().lstrip().startswith("Apache License")


@pytest.mark.slow
def test_sdist_carries_and_runs_its_tests(sdist: Path):
    assert (sdist / "torchestimator" / "py.typed").exists()
    assert (sdist / "tests" / "conftest.py").exists() and (sdist / "data" / "titanic" / "train.csv").exists()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_spec.py"],
        cwd=sdist,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
    imported = subprocess.run(
        [sys.executable, "-c", "import torchestimator; print(torchestimator.__file__)"],
        cwd=sdist,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert imported.startswith(str(sdist))  # the unpacked source was the package under test
