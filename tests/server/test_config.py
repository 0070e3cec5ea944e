"""TF Serving's text-proto config files, and the version policy over a base path."""

from __future__ import annotations

import os

import pytest

from torchestimator.errors import InvalidArgumentError
from torchestimator.server import ModelConfig, parse_batching_parameters, parse_model_config
from torchestimator.server._model_registry import list_versions

MODEL_CONFIG = """
model_config_list {
  config {
    name: "titanic"
    base_path: "/models/titanic"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 3 versions: 5 } }
    version_labels { key: "stable" value: 3 }
    version_labels { key: "canary" value: 5 }
  }
  config { name: "iris" base_path: "/models/iris" model_version_policy { latest { num_versions: 2 } } }
  config { name: "all" base_path: "/models/all" model_version_policy { all {} } }
}
"""


def test_model_config_file():
    titanic, iris, every = parse_model_config(MODEL_CONFIG)
    assert titanic == ModelConfig(
        "titanic", "/models/titanic", "specific", 1, (3, 5), {"stable": 3, "canary": 5}
    )
    assert (iris.version_policy, iris.num_versions) == ("latest", 2)
    assert every.version_policy == "all"
    assert titanic.aspired([1, 3, 4, 5]) == [3, 5]
    assert iris.aspired([1, 3, 4, 5]) == [4, 5]
    assert every.aspired([5, 1]) == [1, 5]
    assert ModelConfig("m", "/x").aspired([10, 2, 7]) == [10]  # TF Serving's default: the latest


def test_model_config_errors_name_the_problem():
    with pytest.raises(InvalidArgumentError, match="unknown_field"):
        parse_model_config('model_config_list { config { name: "m" unknown_field: 1 } }')
    with pytest.raises(InvalidArgumentError, match="absolute path"):
        parse_model_config('model_config_list { config { name: "m" base_path: "relative" } }')
    with pytest.raises(InvalidArgumentError, match="lists no model"):
        parse_model_config("")


def test_batching_parameters_file():
    opts = parse_batching_parameters(
        "max_batch_size { value: 32 }\nbatch_timeout_micros { value: 5000 }\nnum_batch_threads { value: 3 }\n"
        "max_enqueued_batches { value: 7 }\npad_variable_length_inputs: true\n"
    )
    assert (
        opts.max_batch_size,
        opts.batch_timeout_micros,
        opts.num_batch_threads,
        opts.max_enqueued_batches,
    ) == (
        32,
        5000,
        3,
        7,
    )
    assert parse_batching_parameters("").max_batch_size == 1000  # TF Serving's default
    with pytest.raises(InvalidArgumentError, match="max_batch_sise"):
        parse_batching_parameters("max_batch_sise { value: 3 }")


def test_versions_are_numeric_directories(tmp_path):
    for name in ("1", "20", "temp-30", "abc"):
        (tmp_path / name).mkdir()
    (tmp_path / "40").write_text("a file, not a version")
    assert list_versions(str(tmp_path)) == [1, 20]
    assert list_versions(os.path.join(str(tmp_path), "missing")) == []


def test_serve_flags_pick_the_models(tmp_path, capsys):
    import argparse

    from torchestimator.cli import main
    from torchestimator.server._cli import _configs, add_arguments

    config = tmp_path / "models.config"
    config.write_text(MODEL_CONFIG)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([f"--model_config_file={config}"])
    assert [c.name for c in _configs(args)] == ["titanic", "iris", "all"]
    args = parser.parse_args(["--model_name=m", f"--model_base_path={tmp_path}"])
    assert _configs(args) == [ModelConfig("m", str(tmp_path))]
    assert (args.port, args.rest_api_port) == (8500, 8501)  # TF Serving's: --port is gRPC
    assert main(["serve", f"--model_config_file={config}", f"--model_base_path={tmp_path}"]) == 2
    assert "not both" in capsys.readouterr().err
