"""The show command prints every signature with TF's input / output keys and dtypes."""

from __future__ import annotations

import subprocess
import sys

from export_cases import Case

from torchestimator.cli import main


def test_show_lists_signatures(titanic_case: Case) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "torchestimator.serving", "show", titanic_case.export_dir],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    for name in ("classification", "predict", "regression", "serving_default"):
        assert f"signature_def['{name}']:" in out
    assert "inputs['examples'] tensor_info:" in out and "inputs['inputs'] tensor_info:" in out
    assert "Method name is: tensorflow/serving/classify" in out
    assert "outputs['classes'] tensor_info:\n        dtype: string\n        shape: (-1, 2)" in out
    assert "host step (hashing / crossing before model.onnx): age_bucketized_X_sex__ids" in out


def test_show_on_a_non_export_fails_cleanly(tmp_path: object, capsys: object) -> None:
    assert main(["show", str(tmp_path)]) == 2
