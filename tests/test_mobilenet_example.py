"""The seed's MobileNetV2 example runs in CI: torchvision's model zoo beside the CPU torch (examples/torchvision_shim)."""

from __future__ import annotations

import os
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
def test_mobilenet_v2_example_learns_evaluates_and_exports(tmp_path):
    """Without pretrained weights the example trains a slim MobileNetV2 (backbone and head) and must
    classify held-out images (another seed of the generator) well above chance (1/3)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # predictable on a shared 2-core runner
    out = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "mobilenet_v2_example.py"),  # defaults: 150 steps of 32 images at 32x32
            "--model-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "torchvision 0." in out.stdout
    assert "backbone and head" in out.stdout
    found = re.search(r"eval: \{'accuracy': ([0-9.]+), .*'global_step': 150", out.stdout)
    assert found, out.stdout
    assert float(found.group(1)) >= 0.6, out.stdout  # chance is 0.333
    assert (tmp_path / "model.ckpt-150").is_dir()
    assert "exported:" in out.stdout


@pytest.mark.slow
def test_a_frozen_random_backbone_stays_near_chance(tmp_path):
    """The reason the example trains its backbone without weights: frozen random features carry no
    learned signal, so the head alone does not learn the shapes in the same budget."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        from image_data import make_images, preprocess
        from mobilenet_v2_example import build_model
        from torchvision_shim import import_torchvision
    finally:
        sys.path.remove(str(EXAMPLES))
    import torch

    import_torchvision()
    torch.manual_seed(0)
    train_x, train_y = make_images(1500, size=48, seed=1)
    eval_x, eval_y = make_images(150, size=48, seed=2)
    x, y, ex = preprocess(train_x, 32), torch.as_tensor(train_y), preprocess(eval_x, 32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convolutions: one thread is fastest on a shared runner
    try:
        accuracy = _train_and_score(build_model, x, y, ex, eval_y)
    finally:
        torch.set_num_threads(threads)
    assert accuracy[False] >= 0.6, accuracy
    assert accuracy[True] < accuracy[False] - 0.2, accuracy


def _train_and_score(build_model, x, y, ex, eval_y) -> dict[bool, float]:
    """Held-out accuracy after 100 Adam steps, with the random backbone frozen (True) or trained (False)."""
    import torch

    accuracy = {}
    for freeze in (True, False):
        torch.manual_seed(0)
        model = build_model(None, 0.35, freeze)
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        generator = torch.Generator().manual_seed(0)
        for _ in range(100):
            i = torch.randint(0, len(x), (32,), generator=generator)
            loss = torch.nn.functional.cross_entropy(model(x[i]), y[i])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy[freeze] = float((model(ex).argmax(1).numpy() == eval_y).mean())
    return accuracy
