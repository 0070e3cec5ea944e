"""``torchestimator import-tf-checkpoint``: --list, and an import into a new model_dir."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tf_checkpoint_cases import FIXTURES, build, expected_predictions, fixture, predictions

from torchestimator import checkpoint as ckpt_lib
from torchestimator.cli import main
from torchestimator.compat import TFBundle


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


def test_a_custom_model_with_a_name_map_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name_map = tmp_path / "map.json"
    name_map.write_text('{"baseline/(bias)": "logit_\\\\1"}')
    argv = ["import-tf-checkpoint", str(FIXTURES / "baseline"), "--estimator", "cli_factories:custom"]
    assert main([*argv, "--model-dir", str(tmp_path / "out"), "--name-map", str(name_map)]) == 0
    out = capsys.readouterr().out
    assert "logit_bias <- baseline/bias" in out and "no optimizer found on the model" in out
    state = ckpt_lib.load_checkpoint(tmp_path / "out")
    np.testing.assert_array_equal(
        state.model["logit_bias"].numpy(), TFBundle(FIXTURES / "baseline").read("baseline/bias")
    )
    name_map.write_text("[1, 2]")
    assert main([*argv, "--model-dir", str(tmp_path / "out2"), "--name-map", str(name_map)]) == 2
    assert "must hold a JSON object of strings" in capsys.readouterr().err
