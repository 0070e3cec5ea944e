"""torch.compile without renamed checkpoint keys: RunConfig(compile=...) and model_to_estimator(torch.compile(m))."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import torchestimator as te
from torchestimator.checkpoint import load_model_state
from torchestimator.errors import InvalidArgumentError

fc = te.feature_column


class CountingBackend:
    """A torch.compile backend that runs the captured graph eagerly and counts the graphs it was given."""

    def __init__(self) -> None:
        self.graphs = 0

    def __call__(self, gm: torch.fx.GraphModule, example_inputs):
        self.graphs += 1
        return gm.forward


def _xy(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return x, (x.sum(axis=1) > 0).astype(np.int64)


def test_model_to_estimator_unwraps_torch_compile_keeping_its_backend(tmp_path):
    torch._dynamo.reset()
    x, y = _xy()
    backend = CountingBackend()
    torch.manual_seed(0)
    module = nn.Linear(3, 2)
    est = te.model_to_estimator(
        torch.compile(module, backend=backend), model_dir=str(tmp_path), optimizer="SGD"
    )
    est.train(lambda: (torch.from_numpy(x), torch.from_numpy(y)), steps=3)
    assert backend.graphs > 0  # the user's compile options still drive the forward
    names = sorted(load_model_state(est.latest_checkpoint()))
    assert names == ["model.bias", "model.weight"]  # no `_orig_mod.`
    plain = nn.Linear(3, 2)
    state = load_model_state(est.latest_checkpoint())
    plain.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
    expected = plain(torch.from_numpy(x[:4])).detach().numpy()
    got = np.stack([p["logits"] for p in est.predict(lambda: torch.from_numpy(x[:4]))])
    np.testing.assert_allclose(got, expected, atol=1e-6)


def _dnn(tmp_path, compile_setting):
    torch.manual_seed(0)
    cfg = te.RunConfig(compile=compile_setting, tf_random_seed=0)
    return te.DNNClassifier([8, 4], [fc.numeric_column("x", shape=(3,))], model_dir=str(tmp_path), config=cfg)


def test_runconfig_compile_compiles_the_tower_with_same_results_and_names(tmp_path):
    torch._dynamo.reset()
    x, y = _xy()
    backend = CountingBackend()
    compiled = _dnn(tmp_path / "c", {"backend": backend})
    eager = _dnn(tmp_path / "e", False)
    for est in (compiled, eager):
        est.train(lambda: ({"x": x}, y), steps=5)
    assert backend.graphs > 0
    a, b = load_model_state(compiled.latest_checkpoint()), load_model_state(eager.latest_checkpoint())
    assert sorted(a) == sorted(b) and not any("_orig_mod" in k for k in a)
    tensors = [k for k in a if isinstance(a[k], torch.Tensor)]
    assert any(k.startswith("tower.") for k in tensors)
    for key in tensors:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=1e-6)


@pytest.mark.slow
def test_inductor_compile_trains_like_eager(tmp_path):
    torch._dynamo.reset()
    x, y = _xy()
    compiled, eager = _dnn(tmp_path / "c", True), _dnn(tmp_path / "e", False)
    for est in (compiled, eager):
        est.train(lambda: ({"x": x}, y), steps=5)
    pa = np.stack([p["logits"] for p in compiled.predict(lambda: {"x": x[:8]})])
    pb = np.stack([p["logits"] for p in eager.predict(lambda: {"x": x[:8]})])
    np.testing.assert_allclose(pa, pb, atol=1e-5)


def test_builtin_module_compiles_through_runconfig(tmp_path):
    torch._dynamo.reset()
    backend = CountingBackend()
    x, y = _xy()
    est = te.model_to_estimator(
        nn.Linear(3, 2), model_dir=str(tmp_path), config=te.RunConfig(compile={"backend": backend})
    )
    est.train(lambda: (torch.from_numpy(x), torch.from_numpy(y)), steps=2)
    assert backend.graphs > 0  # nn.Linear is torch's own module: compiled anyway
    assert sorted(load_model_state(est.latest_checkpoint())) == ["model.bias", "model.weight"]


def test_bad_compile_setting_named():
    with pytest.raises(InvalidArgumentError, match="compile must be False, True or a dict"):
        te.RunConfig(compile="yes")
