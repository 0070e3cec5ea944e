"""The check run before every checkpoint save: no NaN / inf parameter or optimizer slot is ever written.

A NaN gradient can leave the loss finite for a step (the loss is computed before the update), so the
per-step NaN-loss check does not catch it; a checkpoint of the NaN model would then be reloaded by
every restart. The check runs only at save time, on the device, with one host sync for all tensors.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch

from torchestimator.errors import NanLossDuringTrainingError

__all__ = ["NonFiniteParametersError", "check_finite_before_save"]


class NonFiniteParametersError(NanLossDuringTrainingError):
    """A parameter or optimizer slot is NaN or infinite at save time (nothing was written)."""

    def __init__(self, step: int, name: str, model_dir: str) -> None:
        super().__init__(step=step)
        self.name = name
        self.args = (
            f"refusing to save checkpoint {step} in model_dir {model_dir!r}: {name} contains NaN or inf (first "
            "non-finite tensor; the loss was still finite, so a gradient or an update step produced it). Nothing "
            "was written: the last checkpoint is intact. Lower the learning rate, set "
            "RunConfig(gradient_clip_norm=...), or look for a NaN / inf in the inputs, then restart.",
        )


def _float_tensors(
    module: torch.nn.Module, optimizers: Mapping[str, torch.optim.Optimizer]
) -> Iterator[tuple[str, torch.Tensor]]:
    for name, weight in module.named_parameters():
        if weight.numel() > 1 and not any(weight.stride()):
            continue  # a sharded table's placeholder (one element, stride 0): its values live in the shards
        if weight.is_floating_point() or weight.is_complex():
            yield f"parameter {name!r}", weight.detach()
    names = {id(p): n for n, p in module.named_parameters()}
    for opt_name, opt in optimizers.items():
        for param, slots in opt.state.items():
            for key, value in slots.items():
                if isinstance(value, torch.Tensor) and (value.is_floating_point() or value.is_complex()):
                    owner = names.get(id(param), "?")
                    yield f"optimizer {opt_name!r} slot {key!r} of {owner!r}", value.detach()


def check_finite_before_save(
    module: torch.nn.Module, optimizers: Mapping[str, torch.optim.Optimizer], step: int, model_dir: str
) -> None:
    """Raise :class:`NonFiniteParametersError` naming the first non-finite parameter or slot.

    Raises:
        NonFiniteParametersError: a parameter or optimizer slot holds NaN or inf.
    """
    tensors = list(_float_tensors(module, optimizers))
    if not tensors:
        return
    by_device: dict[torch.device, list[int]] = {}
    for i, (_, t) in enumerate(tensors):
        by_device.setdefault(t.device, []).append(i)
    finite = [True] * len(tensors)
    for indices in by_device.values():  # one host sync per device
        flags = torch.stack([torch.isfinite(_dense(tensors[i][1])).all() for i in indices]).cpu().tolist()
        for i, ok in zip(indices, flags):
            finite[i] = bool(ok)
    if not all(finite):
        raise NonFiniteParametersError(step, tensors[finite.index(False)][0], model_dir)


def _dense(t: torch.Tensor) -> torch.Tensor:
    return t.to_dense() if t.is_sparse else t
