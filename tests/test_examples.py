"""The user-facing examples run (small step counts) and learn; the notebook runs headless through nbclient."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def test_wide_deep_learns():
    import wide_deep

    metrics = wide_deep.run(steps=300)
    assert metrics["auc"] > 0.75  # a constant predictor scores 0.5; TF's linear tutorial model ~0.8


@pytest.mark.slow
def test_ddp_example_two_processes(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "torchestimator.parallel.launch",
            "--nproc",
            "2",
            str(EXAMPLES / "ddp.py"),
            "--steps",
            "20",
            "--model_dir",
            str(tmp_path / "m"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=EXAMPLES,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads(out.stdout.strip().splitlines()[-1])  # the chief's line only
    assert metrics["global_step"] == 20
    assert (tmp_path / "m" / "checkpoint").exists()


@pytest.mark.slow
def test_quickstart_notebook_runs_headless(tmp_path):
    import nbclient
    import nbformat

    nb = nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("STEPS = 200", "STEPS = 40")
    nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = {i: c.get("outputs", []) for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    assert all(o.get("output_type") != "error" for out in outputs.values() for o in out)
    metrics = outputs[3][-1]["data"]["text/plain"]
    assert "'global_step': 40" in metrics and "'accuracy'" in metrics
    images = [o for o in outputs[6] if "image/png" in o.get("data", {})]
    assert len(images) == 2  # curves and linear weights
