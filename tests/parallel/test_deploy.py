"""The launch contracts under deploy/: the Kubeflow PyTorchJob runs the plain script (the operator's environment is
what tests/parallel/test_sharded.py simulates), the TorchX component builds on TorchX's dist.ddp."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_pytorchjob_runs_the_script_without_torchrun_with_one_master() -> None:
    job = yaml.safe_load((DEPLOY / "pytorchjob.yaml").read_text())
    assert job["apiVersion"] == "kubeflow.org/v1" and job["kind"] == "PyTorchJob"
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert replicas["Master"]["replicas"] == 1  # rank 0: the chief that writes model_dir
    for spec in replicas.values():
        (container,) = spec["template"]["spec"]["containers"]
        assert container["name"] == "pytorch"  # the operator injects its variables into this container
        assert "torchrun" not in " ".join(container["command"])
        assert spec["restartPolicy"] == "OnFailure"


def test_torchx_component_wraps_dist_ddp() -> None:
    tree = ast.parse((DEPLOY / "torchx_component.py").read_text())
    imports = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert ("torchx.components.dist", "ddp") in imports
    (trainer,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "trainer"]
    call = next(
        n for n in ast.walk(trainer) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "ddp"
    )
    assert {k.arg for k in call.keywords} >= {"script", "image", "j", "max_retries"}
