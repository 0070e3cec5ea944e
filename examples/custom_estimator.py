"""The seed's custom-estimator example, on PyTorch.

A linear ``nn.Module`` (1 -> 5) trained with Adam(0.1) on a toy dataset (x = 0..9, y = 5x + [0..4],
batches of 2, repeated) for 10 steps; then its weights are loaded into a fresh module **outside**
the Estimator, straight from the checkpoint — TF's "object-based checkpoint" point, with
safetensors instead of a TF checkpoint.

Run: ``python examples/custom_estimator.py [model_dir]``
"""

from __future__ import annotations

import itertools
import sys
import tempfile

import torch

import torchestimator as te


class Net(torch.nn.Module):
    """The seed's ``Net``: one dense layer with 5 outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.l1 = torch.nn.Linear(1, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l1(x)  # (B, 5)


class NetModel(torch.nn.Module):
    """model_fn: the Net, its optimizer, and the EstimatorSpec per mode."""

    def __init__(self) -> None:
        super().__init__()
        self.net = Net()
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=0.1)

    def forward(
        self,
        features: dict[str, torch.Tensor],
        labels: torch.Tensor | None = None,
        mode: str = te.ModeKeys.TRAIN,
    ) -> te.EstimatorSpec:
        output = self.net(features["x"])
        if mode == te.ModeKeys.PREDICT:
            return te.EstimatorSpec(mode, predictions={"output": output})
        loss = torch.mean(torch.abs(output - features["y"]))
        return te.EstimatorSpec(mode, loss=loss, train_op=self.optimizer)


def toy_dataset():
    """x = 0..9, y = 5x + [0, 1, 2, 3, 4]; batches of 2, repeated forever (tf.data's .repeat().batch(2))."""
    inputs = torch.arange(10.0)[:, None]  # (10, 1)
    labels = inputs * 5.0 + torch.arange(5.0)[None, :]  # (10, 5)
    for start in itertools.cycle(range(0, 10, 2)):
        yield {"x": inputs[start : start + 2], "y": labels[start : start + 2]}


def main(model_dir: str | None = None) -> dict[str, torch.Tensor]:
    model_dir = model_dir or tempfile.mkdtemp(prefix="tf_estimator_example-")
    torch.manual_seed(0)
    est = te.Estimator(NetModel, model_dir=model_dir)
    est.train(toy_dataset, steps=10)

    # Outside the Estimator: a fresh module, weights straight from the checkpoint.
    net_model = NetModel()
    state = te.checkpoint.load_model_state(model_dir)
    net_model.load_state_dict(state)
    step = int(est.get_variable_value("global_step"))
    print(f"restored global_step = {step}")  # 10
    print("l1.weight:", net_model.net.l1.weight.detach().flatten().tolist())
    return {
        "global_step": torch.tensor(step),
        **{k: v.detach().clone() for k, v in net_model.state_dict().items()},
    }


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
