"""Optimizer state follows its parameters to their device (checked with the meta device)."""

from __future__ import annotations

import torch

from torchestimator.parallel.placement import module_optimizers, move_optimizer_state


class WithAdagrad(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, 2, device="meta")  # stands in for an accelerator device
        self.optimizer = torch.optim.Adagrad(self.parameters(), lr=0.1)  # builds its state eagerly


def test_state_moves_to_the_parameter_device_step_counter_stays() -> None:
    module = WithAdagrad()
    assert module_optimizers(module) == {"optimizer": module.optimizer}
    for p in module.parameters():  # accumulators left on the CPU, as when built before module.to(device)
        module.optimizer.state[p]["sum"] = torch.zeros(p.shape)
    assert move_optimizer_state(module) == 2  # weight and bias accumulators
    for p in module.parameters():
        state = module.optimizer.state[p]
        assert state["sum"].device.type == "meta"
        assert state["step"].device.type == "cpu" and state["step"].dim() == 0
    assert move_optimizer_state(module) == 0
