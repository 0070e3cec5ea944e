"""A missing optional dependency names the pip extra that installs it, at the moment it is needed."""

from __future__ import annotations

import subprocess
import sys

import pytest

import torchestimator as te
from torchestimator.errors import MissingDependencyError, TorchEstimatorError
from torchestimator.optional import import_optional


def _hide(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    for name in names:  # a None entry makes `import name` raise ModuleNotFoundError, as if not installed
        monkeypatch.setitem(sys.modules, name, None)


def test_error_names_extra_purpose_and_alternative():
    with pytest.raises(MissingDependencyError) as info:
        import_optional("not_a_real_module_xyz", extra="onnx", purpose="doing X", alternative="Or do Y.")
    message = str(info.value)
    assert "pip install 'torchestimator[onnx]'" in message
    assert "doing X" in message and "Or do Y." in message
    assert isinstance(info.value, ImportError) and isinstance(info.value, TorchEstimatorError)


def test_existing_module_is_returned():
    assert import_optional("json", extra="x", purpose="y").dumps([1]) == "[1]"


def test_pandas_input_fn_without_pandas(monkeypatch):
    _hide(monkeypatch, "pandas")
    with pytest.raises(
        MissingDependencyError, match=r"pandas_input_fn needs 'pandas'.*torchestimator\[pandas\]"
    ):
        te.inputs.pandas_input_fn(x=None)


def test_write_onnx_without_onnx(monkeypatch, tmp_path):
    from torchestimator.export.onnx_graph import write_onnx

    _hide(monkeypatch, "onnx")
    with pytest.raises(MissingDependencyError, match=r"model\.onnx.*torchestimator\[onnx\]"):
        write_onnx(None, [], str(tmp_path / "m.onnx"), [], [], {}, {}, None, [])


def test_lazy_subpackages_are_attributes_after_plain_import():
    code = (
        "import sys, torchestimator as te\n"
        "assert 'torchestimator.serving' not in sys.modules\n"
        "assert callable(te.serving.load)\n"
        "assert te.tf_bridge.__name__ == 'torchestimator.tf_bridge'\n"
        "assert 'serving' in dir(te)\n"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_unknown_attribute_still_raises():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        te.nope  # noqa: B018
