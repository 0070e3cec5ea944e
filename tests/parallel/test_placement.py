"""Optimizer state follows its parameters to their device (checked with the meta device)."""

from __future__ import annotations

import torch

from torchestimator.parallel.placement import module_optimizers, move_optimizer_state


class WithAdagrad(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, 2)
        self.optimizer = torch.optim.Adagrad(
            self.parameters(), lr=0.1
        )  # builds its state eagerly, on the CPU


def test_state_moves_to_the_parameter_device_step_counter_stays() -> None:
    module = WithAdagrad()
    assert module_optimizers(module) == [module.optimizer]
    for p in module.parameters():  # state left behind on another device than its parameter
        module.optimizer.state[p]["sum"] = module.optimizer.state[p]["sum"].to("meta")
    assert move_optimizer_state(module) == 2  # weight and bias accumulators
    for p in module.parameters():
        state = module.optimizer.state[p]
        assert state["sum"].device == p.device
        assert state["step"].device.type == "cpu" and state["step"].dim() == 0
    assert move_optimizer_state(module) == 0
