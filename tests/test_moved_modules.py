"""Modules moved into packages (issue 12) still import from their old paths, with a DeprecationWarning that
names the new path, and give the very objects of the new one; the package itself never warns."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import torchestimator.export.exporters
import torchestimator.warm_start

MOVED = {
    "torchestimator.warm_start_variables": torchestimator.warm_start,
    "torchestimator.vocab_remap": torchestimator.warm_start,
    "torchestimator.exporters": torchestimator.export.exporters,
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_warns_naming_the_new_one_and_reexports(old: str, monkeypatch: pytest.MonkeyPatch) -> None:
    new = MOVED[old]
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=rf"{old} is deprecated: import from {new.__name__} instead"):
        module = importlib.import_module(old)
    assert module.__all__
    for name in module.__all__:
        assert getattr(module, name) is getattr(new, name), name


def test_the_old_warm_start_names_are_all_still_there() -> None:
    # the former torchestimator.warm_start module's __all__, plus the two modules folded into the package
    before = {"KEEP_INITIAL", "VocabInfo", "WarmStartSettings", "warm_start"}
    before |= {"WarmStartVariable", "checkpoint_variables", "layer_tables", "module_variables"}
    before |= {"KEEP_INITIAL", "RowRemap", "VocabInfo", "load_vocab", "plan_remap"}
    assert before <= set(torchestimator.warm_start.__all__)


def test_importing_the_package_raises_no_deprecation_warning() -> None:
    code = "import torchestimator, torchestimator.warm_start, torchestimator.export.exporters, torchestimator.compat"
    out = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
