"""The recurrent stack of ``RNNClassifier`` / ``RNNEstimator``: torch's fused kernels, Keras' parameters.

TF 2.15's canned RNN runs a Keras ``SimpleRNN`` / ``LSTM`` / ``GRU`` layer (``units`` an int) or
``keras.layers.RNN`` over a list of the matching cells (``units`` a list), with the sequence mask
of ``SequenceFeatures``. Each layer here is one single-layer ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``
(``batch_first``), so the math is torch's fused kernel, and the parameters map one to one onto
Keras' variables::

    Keras variable              shape            torch parameter(s)
    kernel                      (D, G*U)         weight_ih_l0 (G*U, D) = kernel.T (GRU: gates reordered)
    recurrent_kernel            (U, G*U)         weight_hh_l0 (G*U, U) = recurrent_kernel.T
    bias (SimpleRNN, LSTM)      (G*U,)           bias_ih_l0; bias_hh_l0 is frozen at zero
    bias (GRU, reset_after)     (2, 3*U)         bias_ih_l0 = bias[0], bias_hh_l0 = bias[1]

Gate orders: LSTM i, f, c, o in both; GRU Keras z, r, h vs torch r, z, n. Keras' GRU default in
TF 2 is ``reset_after=True``: ``h~ = tanh(x W_h + b_in + r * (h U_h + b_rec))``, torch's ``n``.
Initialisation is Keras': glorot_uniform kernels, orthogonal recurrent kernels, zero biases and
the LSTM forget-gate bias at 1 (``unit_forget_bias``).

Masking: Keras skips padded steps (the state and the output carry over), so a sequence's output
after its last step is the output of its last step, and a sequence of length 0 outputs zeros.
Ragged batches run packed (``pack_padded_sequence``); equal-length batches run the padded batch
and read each sequence's outputs up to its length (a unidirectional RNN's output at step ``t`` only
depends on steps ``<= t``, so both give the same numbers). Exports read the padded batch the same
way: under ``torch.export`` each layer is a ``scan`` over steps (:func:`scan_layer`; torch's RNN
modules would fix the number of steps), under the TorchScript ONNX exporter the modules themselves
(native ONNX ``RNN`` / ``LSTM`` / ``GRU`` ops), so served sequences may have any length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from torchestimator.errors import InvalidArgumentError

__all__ = [
    "CELL_TYPES",
    "ClipUnit",
    "RecurrentStack",
    "clip_by_norm_per_variable",
    "load_keras_weights",
    "rnn_parameters",
    "scan_layer",
]

CELL_TYPES = {"simple_rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

# One Keras variable: torch parameters with an optional row range each; clipped by one norm.
ClipUnit = list[tuple[torch.Tensor, tuple[int, int] | None]]


def rnn_parameters(layer: nn.Module) -> tuple[nn.Parameter, nn.Parameter, nn.Parameter, nn.Parameter]:
    """``weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0`` of a one-layer torch RNN."""
    params = dict(layer.named_parameters())
    return params["weight_ih_l0"], params["weight_hh_l0"], params["bias_ih_l0"], params["bias_hh_l0"]


def _hidden_size(layer: nn.Module) -> int:
    return int(cast(nn.RNNBase, layer).hidden_size)


def _keras_init(layer: nn.RNNBase) -> None:
    units = layer.hidden_size
    w_ih, w_hh, b_ih, b_hh = rnn_parameters(layer)
    with torch.no_grad():
        nn.init.xavier_uniform_(w_ih)  # Keras kernel (D, G*U): fan_in D, fan_out G*U
        nn.init.orthogonal_(w_hh)  # (G*U, U) orthonormal columns = Keras' (U, G*U) rows
        b_ih.zero_()
        b_hh.zero_()
        if isinstance(layer, nn.LSTM):
            b_ih[units : 2 * units] = 1.0  # unit_forget_bias


def _make_layer(cell_type: str, input_size: int, units: int) -> nn.RNNBase:
    cls = CELL_TYPES[cell_type]
    layer: nn.RNNBase = (
        cls(input_size, units, batch_first=True)
        if cls is not nn.RNN
        else nn.RNN(input_size, units, nonlinearity="tanh", batch_first=True)
    )
    _keras_init(layer)
    if not isinstance(layer, nn.GRU):  # Keras SimpleRNN / LSTM have one bias: torch's second stays 0
        rnn_parameters(layer)[3].requires_grad_(False)
    return layer


def check_units(units: Any, owner: str) -> list[int]:
    """``units`` (an int or a list of ints) as a list of positive ints.

    Raises:
        InvalidArgumentError: anything else.
    """
    values = [units] if isinstance(units, int) and not isinstance(units, bool) else units
    try:
        out = [int(u) for u in values]
        ok = all(isinstance(u, int) and not isinstance(u, bool) for u in values) and out and min(out) > 0
    except TypeError:
        ok = False
    if not ok:
        raise InvalidArgumentError(
            f"{owner}: units must be an int or a non-empty list of ints >= 1 (one per RNN layer); "
            f"received {units!r}."
        )
    return out


class RecurrentStack(nn.Module):
    """Stacked single-layer torch RNNs over a masked, padded batch.

    Args:
        input_size: ``D`` of the ``(B, T, D)`` input.
        units: hidden units per layer.
        cell_type: ``'simple_rnn'``, ``'lstm'`` or ``'gru'``.
        layers: instead of ``units`` / ``cell_type``, ready torch RNNs (``rnn_cell_fn``'s result).

    Raises:
        InvalidArgumentError: a bad ``cell_type`` or layer.
    """

    def __init__(
        self,
        input_size: int,
        units: Sequence[int] = (),
        cell_type: str = "simple_rnn",
        layers: Sequence[nn.Module] | None = None,
    ) -> None:
        super().__init__()
        if layers is None:
            if cell_type not in CELL_TYPES:
                raise InvalidArgumentError(
                    f"cell_type must be one of {sorted(CELL_TYPES)}; received {cell_type!r}. For another cell, "
                    "pass rnn_cell_fn returning torch nn.RNN / nn.LSTM / nn.GRU modules."
                )
            built, width = [], input_size
            for n in units:
                built.append(_make_layer(cell_type, width, n))
                width = n
            layers = built
        for layer in layers:
            _check_layer(layer)
        self.layers = nn.ModuleList(layers)
        self.output_size = _hidden_size(self.layers[-1])

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, return_sequences: bool = False) -> torch.Tensor:
        """Outputs ``(B, U)`` at each sequence's last step, or ``(B, T, U)`` (carried past the end).

        Args:
            x: ``(B, T, D)`` padded input.
            lengths: ``(B,)`` int64 sequence lengths.
            return_sequences: return every step's output.
        """
        batch, steps = x.shape[0], x.shape[1]
        if torch.compiler.is_exporting():  # torch.export: a scan keeps the number of steps dynamic
            out = x
            for layer in self.layers:
                out = scan_layer(layer, out)  # (B, T, U)
        elif torch.jit.is_tracing():  # the TorchScript ONNX exporter: native ONNX RNN / LSTM / GRU ops
            out = x
            for layer in self.layers:
                out, _ = layer(out)  # (B, T, U)
        else:
            if steps == 0:
                empty = (batch, 0, self.output_size) if return_sequences else (batch, self.output_size)
                return x.new_zeros(empty)
            host_lengths = lengths.detach().cpu()
            if batch > 0 and bool((host_lengths < steps).any()):
                out = self._packed(x, host_lengths, steps)  # (B, T, U), zeros past each end
            else:
                out = x
                for layer in self.layers:
                    out, _ = layer(out)  # (B, T, U)
        lengths = lengths.to(x.device)
        last = (lengths - 1).clamp_min(0)  # (B,)
        valid = (lengths > 0).to(out.dtype).unsqueeze(-1)  # (B, 1)
        width = out.shape[-1]
        if not return_sequences:
            index = last.view(-1, 1, 1).expand(-1, 1, width)
            return out.gather(1, index).squeeze(1) * valid  # (B, U)
        step = torch.arange(out.shape[1], device=x.device).unsqueeze(0)  # (1, T)
        index = torch.minimum(step, last.unsqueeze(1))  # (B, T): steps past the end read the last one
        index = index.unsqueeze(-1).expand(-1, -1, width)
        return out.gather(1, index) * valid.unsqueeze(1)  # (B, T, U)

    def _packed(self, x: torch.Tensor, lengths: torch.Tensor, steps: int) -> torch.Tensor:
        packed = pack_padded_sequence(x, lengths.clamp_min(1), batch_first=True, enforce_sorted=False)
        for layer in self.layers:
            packed, _ = layer(packed)
        out, _ = pad_packed_sequence(packed, batch_first=True, total_length=steps)
        return out  # (B, T, U)

    def clip_units(self) -> list[ClipUnit]:
        """The Keras variables of the stack (kernel, recurrent kernel, bias per layer)."""
        units: list[ClipUnit] = []
        for layer in self.layers:
            w_ih, w_hh, b_ih, b_hh = rnn_parameters(layer)
            units.append([(w_ih, None)])
            units.append([(w_hh, None)])
            biases: ClipUnit = [(p, None) for p in (b_ih, b_hh) if p.requires_grad]
            if biases:
                units.append(biases)
        return units


def scan_layer(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``layer``'s outputs ``(B, T, U)`` as a ``scan`` over steps (torch's cell math, for ``torch.export``).

    ``nn.RNN`` / ``LSTM`` / ``GRU`` specialise the number of steps when exported; a scan does not.
    """
    from torch._higher_order_ops.scan import scan

    w_ih, w_hh, b_ih, b_hh = rnn_parameters(layer)
    units = _hidden_size(layer)
    inputs = (x @ w_ih.T + b_ih).transpose(0, 1)  # (T, B, G*U)
    h0 = x.new_zeros(x.shape[0], units)  # (B, U)
    if isinstance(layer, nn.LSTM):

        def lstm_step(carry: list[torch.Tensor], xt: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
            h, c = carry
            gates = xt + h @ w_hh.T + b_hh  # (B, 4U): i, f, g, o
            i, f = torch.sigmoid(gates[:, :units]), torch.sigmoid(gates[:, units : 2 * units])
            g, o = torch.tanh(gates[:, 2 * units : 3 * units]), torch.sigmoid(gates[:, 3 * units :])
            c2 = f * c + i * g
            h2 = o * torch.tanh(c2)
            return [h2, c2], h2.clone()

        _, ys = scan(lstm_step, [h0, h0.clone()], inputs)
    elif isinstance(layer, nn.GRU):

        def gru_step(h: torch.Tensor, xt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            hh = h @ w_hh.T + b_hh  # (B, 3U): r, z, n
            r = torch.sigmoid(xt[:, :units] + hh[:, :units])
            z = torch.sigmoid(xt[:, units : 2 * units] + hh[:, units : 2 * units])
            n = torch.tanh(xt[:, 2 * units :] + r * hh[:, 2 * units :])
            h2 = (1 - z) * n + z * h
            return h2, h2.clone()

        _, ys = scan(gru_step, h0, inputs)
    else:
        act = torch.tanh if layer.nonlinearity == "tanh" else torch.relu

        def rnn_step(h: torch.Tensor, xt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h2 = act(xt + h @ w_hh.T + b_hh)
            return h2, h2.clone()

        _, ys = scan(rnn_step, h0, inputs)
    return ys.transpose(0, 1)  # (B, T, U)


def _check_layer(layer: Any) -> None:
    if not isinstance(layer, (nn.RNN, nn.LSTM, nn.GRU)):
        raise InvalidArgumentError(
            f"rnn_cell_fn must return torch nn.RNN / nn.LSTM / nn.GRU modules (or a list of them); received "
            f"{type(layer).__name__}."
        )
    if not layer.batch_first or layer.bidirectional or layer.num_layers != 1 or not layer.bias:
        raise InvalidArgumentError(
            "rnn_cell_fn layers must be batch_first=True, unidirectional, num_layers=1, bias=True (stack layers "
            f"by returning a list); received {layer!r}."
        )
    if getattr(layer, "proj_size", 0):
        raise InvalidArgumentError(f"rnn_cell_fn: LSTM proj_size is not supported; received {layer!r}.")


def _gru_to_torch(block: torch.Tensor, units: int) -> torch.Tensor:
    """Keras GRU gate blocks z, r, h along dim 0 -> torch r, z, n."""
    z, r, h = block[:units], block[units : 2 * units], block[2 * units :]
    return torch.cat([r, z, h], dim=0)


def load_keras_weights(layer: nn.Module, kernel: Any, recurrent_kernel: Any, bias: Any) -> None:
    """Copy one Keras RNN layer's variables into a torch layer of this module (see the table above)."""
    k = torch.as_tensor(kernel, dtype=torch.float32).T.contiguous()  # (G*U, D)
    rk = torch.as_tensor(recurrent_kernel, dtype=torch.float32).T.contiguous()  # (G*U, U)
    b = torch.as_tensor(bias, dtype=torch.float32)
    units = _hidden_size(layer)
    w_ih, w_hh, b_ih, b_hh = rnn_parameters(layer)
    with torch.no_grad():
        if isinstance(layer, nn.GRU):
            w_ih.copy_(_gru_to_torch(k, units))
            w_hh.copy_(_gru_to_torch(rk, units))
            b_ih.copy_(_gru_to_torch(b[0], units))
            b_hh.copy_(_gru_to_torch(b[1], units))
        else:
            w_ih.copy_(k)
            w_hh.copy_(rk)
            b_ih.copy_(b)
            b_hh.zero_()


def _clip_grad(grad: torch.Tensor, rows: tuple[int, int] | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The gradient (coalesced if sparse) and a mask of the entries of ``rows``."""
    if grad.is_sparse:
        grad = grad.coalesce()
        if rows is None:
            return grad, None
        idx = grad.indices()[0]
        return grad, (idx >= rows[0]) & (idx < rows[1])
    return grad, None


def clip_by_norm_per_variable(units: Sequence[ClipUnit], clipnorm: float) -> None:
    """Keras' ``clipnorm``: each variable's gradient scaled by ``clipnorm / max(norm, clipnorm)``.

    TF's ``clip_by_norm`` per variable (``t * c / max(||t||, c)``), not the global norm; a sparse
    (embedding) gradient is coalesced first, as TF's gradient of a unique-id lookup is.
    """
    for unit in units:
        pieces = []
        for param, rows in unit:
            if param.grad is None:
                continue
            grad, mask = _clip_grad(param.grad, rows)
            if grad.is_sparse:
                param.grad = grad
                values = grad.values() if mask is None else grad.values()[mask]
                pieces.append((param, rows, mask, values.pow(2).sum()))
            else:
                view = grad if rows is None else grad[rows[0] : rows[1]]
                pieces.append((param, rows, mask, view.pow(2).sum()))
        if not pieces:
            continue
        norm = torch.stack([p[3] for p in pieces]).sum().sqrt()
        scale = clipnorm / torch.clamp(norm, min=clipnorm)
        for param, rows, mask, _ in pieces:
            current = param.grad
            assert current is not None  # collected above
            grad = current
            if grad.is_sparse:
                values = grad.values()
                if mask is None:
                    values.mul_(clipnorm).div_(torch.clamp(norm, min=clipnorm))
                else:
                    values[mask] = values[mask] * scale
            elif rows is None:
                grad.mul_(clipnorm).div_(torch.clamp(norm, min=clipnorm))
            else:
                grad[rows[0] : rows[1]].mul_(scale)
