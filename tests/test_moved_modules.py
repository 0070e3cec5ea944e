"""Modules moved into packages (issue 12) still import from their old paths, with a DeprecationWarning that
names the new path, and give the very objects of the new one; the package itself never warns."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import torchestimator.estimator
import torchestimator.estimator._runtime
import torchestimator.export.exporters
import torchestimator.warm_start

MOVED = {
    "torchestimator.warm_start_variables": torchestimator.warm_start,
    "torchestimator.vocab_remap": torchestimator.warm_start,
    "torchestimator.exporters": torchestimator.export.exporters,
    "torchestimator.train_loop": torchestimator.estimator,
    "torchestimator.evaluation": torchestimator.estimator,
    "torchestimator.prediction": torchestimator.estimator,
    "torchestimator.training": torchestimator.estimator,
    "torchestimator.multi_eval": torchestimator.estimator,
    "torchestimator.function_build": torchestimator.estimator,
    "torchestimator._runtime": torchestimator.estimator._runtime,  # private, but other branches import it
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


def test_the_old_loop_quadrant_names_are_all_still_there() -> None:
    # the __all__ of each module folded into torchestimator.estimator, before the move
    before = {
        "torchestimator.train_loop": {"run_training"},
        "torchestimator.evaluation": {"run_evaluation"},
        "torchestimator.prediction": {"run_prediction"},
        "torchestimator.training": {"EvalSpec", "TrainSpec", "train_and_evaluate"},
        "torchestimator.multi_eval": {"MultiEvaluation", "as_eval_specs"},
        "torchestimator.function_build": {"build_function_model"},
        "torchestimator.estimator": {"Estimator"},
    }
    for old, names in before.items():
        assert names <= set(torchestimator.estimator.__all__), old
    runtime = {"ESTIMATOR_ALIASES", "Runtime", "fire_hooks", "open_stream"}
    assert runtime <= set(torchestimator.estimator._runtime.__all__)
    assert {"Estimator", "EvalSpec", "TrainSpec", "train_and_evaluate"} <= set(torchestimator.__all__)
    assert torchestimator.Estimator is torchestimator.estimator.Estimator
    assert torchestimator.train_and_evaluate is torchestimator.estimator.train_and_evaluate


def test_importing_the_package_raises_no_deprecation_warning() -> None:
    code = (
        "import torchestimator, torchestimator.warm_start, torchestimator.export.exporters, torchestimator.compat, "
        "torchestimator.estimator"
    )
    out = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
