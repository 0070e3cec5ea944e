"""The seed's MobileNetV2 example runs in CI: torchvision's model zoo beside the CPU torch (examples/torchvision_shim)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_shim_imports_torchvision_and_detection_ops_refuse_to_run():
    code = (
        f"import sys; sys.path.insert(0, {str(EXAMPLES)!r})\n"
        "import torch\n"
        "from torchvision_shim import import_torchvision\n"
        "tv = import_torchvision()\n"
        "m = tv.models.mobilenet_v2(weights=None).eval()\n"
        "print(tuple(m(torch.zeros(1, 3, 32, 32)).shape))\n"
        "try:\n"
        "    tv.ops.nms(torch.zeros(2, 4), torch.zeros(2), 0.5)\n"
        "    print('nms ran')\n"
        "except Exception as e:\n"
        "    print('nms refused:', type(e).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(1, 1000)" in out.stdout
    assert "nms refused:" in out.stdout  # a schema without a kernel: never a silent result


@pytest.mark.slow
def test_mobilenet_v2_example_trains_evaluates_and_exports(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "mobilenet_v2_example.py"),
            "--size",
            "32",
            "--steps",
            "6",
            "--batch",
            "8",
            "--model-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "torchvision 0." in out.stdout
    assert re.search(r"eval: \{'accuracy': [0-9.]+, .*'global_step': 6", out.stdout), out.stdout
    assert (tmp_path / "model.ckpt-6").is_dir()
    assert "exported:" in out.stdout
