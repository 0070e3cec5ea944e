"""A fresh venv with no extras: the package imports, trains, and every optional feature names its extra."""

from __future__ import annotations

import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_PROBE = textwrap.dedent(
    """
    import numpy as np
    import torchestimator as te
    from torchestimator.errors import MissingDependencyError

    fc = te.feature_column
    est = te.LinearClassifier([fc.numeric_column("x")])
    x = np.array([[1.0], [-1.0]], np.float32)
    est.train(lambda: ({"x": x}, np.array([1, 0])), steps=3)
    print("trained", est.global_step)
    receiver = te.export.build_parsing_serving_input_receiver_fn(fc.make_parse_example_spec([fc.numeric_column("x")]))
    path = est.export_saved_model(est.model_dir + "/export", receiver)  # model.pt2 only: no [onnx] extra
    served = te.serving.load(path).signatures["predict"](examples=[te.inputs.encode_example({"x": [1.0]})])
    expected = next(est.predict(lambda: {"x": x[:1]}))["logistic"]
    print("served", abs(float(served["logistic"][0][0]) - float(expected[0])) < 1e-6)
    for name, call in [
        ("pandas", lambda: te.inputs.pandas_input_fn(x=None)),
        ("onnxruntime", lambda: te.serving.load(path, backend="onnxruntime")),
        ("plot", lambda: te.plot.plot_model_dir(est.model_dir)),
    ]:
        try:
            call()
        except MissingDependencyError as err:
            print(name, "->", err)
        except Exception as err:
            print(name, "-> other", type(err).__name__, err)
    """
)


@pytest.mark.slow
def test_fresh_venv_without_extras(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "torch==2.13.0", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    for module in ("onnx", "onnxruntime", "pandas", "matplotlib"):  # really without extras
        absent = subprocess.run([python, "-c", f"import {module}"], capture_output=True)
        assert absent.returncode != 0, f"{module} got installed without an extra"
    out = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert "trained 3" in lines
    assert "served True" in lines  # exported and served without onnx / onnxruntime
    assert any(line.startswith("pandas -> ") and "torchestimator[pandas]" in line for line in lines), lines
    assert any(
        line.startswith("onnxruntime -> other ExportError") and "[onnx]" in line and "backend='torch'" in line
        for line in lines
    ), lines
    assert any(line.startswith("plot -> ") and "torchestimator[plot]" in line for line in lines), lines
