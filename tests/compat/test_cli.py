"""``torchestimator import-tf-checkpoint``: --list, and an import into a new model_dir."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tf_checkpoint_cases import FIXTURES, build, expected_predictions, fixture, predictions

from torchestimator import checkpoint as ckpt_lib
from torchestimator.cli import main


def test_list_prints_every_variable_with_its_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import-tf-checkpoint", str(FIXTURES / "baseline"), "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = dict(line.split("\t") for line in lines[1:])
    assert listed == {n: str(s) for n, s in fixture()["baseline"]["tf_variables"].items()}


def test_import_into_a_model_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ported"
    argv = ["import-tf-checkpoint", str(FIXTURES / "linear_ftrl"), "--estimator", "cli_factories:linear"]
    assert main([*argv, "--model-dir", str(out)]) == 0
    assert "loaded 5 tensors, 10 optimizer slots" in capsys.readouterr().out
    assert ckpt_lib.list_checkpoints(out) == [30]
    got = predictions(build("linear_ftrl", out), "y2")["logits"]
    np.testing.assert_allclose(
        got, expected_predictions(fixture()["linear_ftrl"]["predictions"])["logits"], atol=1e-5
    )
    assert main([*argv, "--model-dir", str(out)]) == 2  # a second import would be shadowed: refused
    assert "already holds torchestimator checkpoints" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["import-tf-checkpoint", str(FIXTURES / "baseline")]) == 2
    assert main(["import-tf-checkpoint", str(tmp_path), "--list"]) == 2
    assert "no TF checkpoint" in capsys.readouterr().err
    assert (
        main(
            ["import-tf-checkpoint", str(FIXTURES / "baseline"), "--estimator", "nocolon", "--model-dir", "x"]
        )
        == 2
    )
