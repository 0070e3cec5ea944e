"""The dual coordinate ascent of one batch (TF's ``SdcaOptimizerV2`` kernel, ``sdca_ops.cc``), in numpy.

Primal problem over the examples seen so far (weights ``ew_i``, labels ``y_i``, features ``x_i``)::

    min_w  Σ_i ew_i · φ(w·x_i, y_i)  +  l2/2 · ||w||²  +  l1 · ||w||₁

SDCA keeps one dual variable ``a_i`` per example and the *unshrunk* primal weights
``v = Σ_i a_i · ew_i · x_i / l2``; the model's weights are ``w = shrink(v)`` (soft-thresholding by
``l1 / l2``). One batch visits its examples once, in a random order (TF draws it from
``std::random_device``); each visit solves for the example's new dual in closed form (squared
loss) or by 10 Newton steps (logistic loss, TF's modified function) and moves ``v`` at once, so
the next example sees the update: the visits are sequential by definition. Everything around the
loop is vectorised: the batch layout, norms, the previous-weights logits ``prev_wx``, and the
primal / dual losses stored per example.

``num_loss_partitions`` (``K``, CoCoA+'s sigma') scales the example norm and the in-batch delta
(``wx`` reads ``nominal + K · delta``), as in TF.

Batch layout (local coordinates: the batch's unique sparse rows, then the dense dims, then the bias)::

    indptr   int64 (B + 1,)   example i's entries are [indptr[i], indptr[i+1])
    cols     int64 (nnz,)     local coordinate of each entry
    vals     float64 (nnz,)   feature value of each entry (bias entries are 1)
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from torchestimator.errors import InvalidArgumentError

__all__ = ["LOSS_TYPES", "BatchResult", "SDCABatch", "dual_coordinate_ascent", "shrink"]

LOSS_TYPES = ("logistic_loss", "squared_loss")
_NEWTON_STEPS = 10


def shrink(weights: np.ndarray, shrinkage: float) -> np.ndarray:
    """Soft-thresholding ``sign(w) · max(|w| - shrinkage, 0)`` (the proximal step of the l1 term)."""
    if shrinkage <= 0.0:
        return weights
    return np.sign(weights) * np.maximum(np.abs(weights) - shrinkage, 0.0)


@dataclasses.dataclass
class SDCABatch:
    """One batch in local coordinates (see the module docstring)."""

    indptr: np.ndarray  # int64 (B + 1,)
    cols: np.ndarray  # int64 (nnz,)
    vals: np.ndarray  # float64 (nnz,)
    labels: np.ndarray  # float64 (B,), already converted (logistic: -1 / +1)
    weights: np.ndarray  # float64 (B,) example weights
    duals: np.ndarray  # float64 (B,) the examples' duals before this batch

    @property
    def num_examples(self) -> int:
        return len(self.labels)

    def squared_norms(self) -> np.ndarray:
        """``||x_i||²`` per example (B,)."""
        rows = np.repeat(np.arange(self.num_examples), np.diff(self.indptr))
        return np.bincount(rows, weights=self.vals * self.vals, minlength=self.num_examples)

    def dot(self, coords: np.ndarray) -> np.ndarray:
        """``x_i · coords`` per example (B,)."""
        rows = np.repeat(np.arange(self.num_examples), np.diff(self.indptr))
        return np.bincount(rows, weights=coords[self.cols] * self.vals, minlength=self.num_examples)


@dataclasses.dataclass
class BatchResult:
    """The batch's update: ``delta`` to add to the unshrunk weights, and the new example state."""

    delta: np.ndarray  # float64 (num local coordinates,)
    state: np.ndarray  # float32 (B, 4): dual, primal loss, dual loss, example weight (TF's table rows)


def convert_labels(labels: np.ndarray, loss_type: str) -> np.ndarray:
    """Logistic labels 0/1 -> -1/+1 (TF's ``ConvertLabel``); squared-loss labels unchanged.

    Raises:
        InvalidArgumentError: a logistic label other than 0 or 1.
    """
    labels = np.asarray(labels, np.float64).reshape(-1)
    if loss_type != "logistic_loss":
        return labels
    bad = labels[(labels != 0.0) & (labels != 1.0)]
    if bad.size:
        raise InvalidArgumentError(
            "LinearSDCA (logistic loss): only labels of 0.0 or 1.0 are supported; found an example with "
            f"label {bad[0]!r}. Use 0/1 labels (or a label_vocabulary of two classes)."
        )
    return np.where(labels == 0.0, -1.0, 1.0)


def _logistic_dual(k: int, label: float, weight: float, dual: float, wx: float, norm: float) -> float:
    """TF's ``LogisticLossUpdater::ComputeUpdatedDual``: 10 Newton steps on its modified function."""
    scale = k * norm * weight
    x = 0.0
    for _ in range(_NEWTON_STEPS):
        tanhx = math.tanh(x)
        numerator = -2.0 * label * x - wx - scale * (0.5 * (1.0 + tanhx) / label - dual)
        denominator = -2.0 * label - scale * (1.0 - tanhx * tanhx) * 0.5 / label
        x -= numerator / denominator
    return 0.5 * (1.0 + math.tanh(x)) / label


def _squared_dual(k: int, label: float, weight: float, dual: float, wx: float, norm: float) -> float:
    """TF's ``SquaredLossUpdater::ComputeUpdatedDual`` (closed form)."""
    return dual + (label - dual - wx) / (1.0 + k * norm * weight)


def _primal_losses(wx: np.ndarray, labels: np.ndarray, weights: np.ndarray, loss_type: str) -> np.ndarray:
    if loss_type == "logistic_loss":
        y_wx = labels * wx
        return (
            np.where(y_wx > 0, np.log1p(np.exp(-np.abs(y_wx))), np.log1p(np.exp(-np.abs(y_wx))) - y_wx)
            * weights
        )
    err = wx - labels
    return err * err * weights * 0.5


def _dual_losses(duals: np.ndarray, labels: np.ndarray, weights: np.ndarray, loss_type: str) -> np.ndarray:
    if loss_type == "logistic_loss":
        ay = duals * labels
        with np.errstate(divide="ignore", invalid="ignore"):
            a_log_a = np.where(ay > 0, ay * np.log(np.where(ay > 0, ay, 1.0)), 0.0)
            b = 1.0 - ay
            b_log_b = np.where(b > 0, b * np.log(np.where(b > 0, b, 1.0)), 0.0)
        return (a_log_a + b_log_b) * weights
    return duals * (0.5 * duals - labels) * weights


def dual_coordinate_ascent(
    batch: SDCABatch,
    nominal: np.ndarray,
    loss_type: str,
    l1: float,
    l2: float,
    num_loss_partitions: int,
    order: np.ndarray,
) -> BatchResult:
    """One pass of SDCA over ``batch`` in ``order`` from the unshrunk weights ``nominal`` (local coordinates).

    Args:
        batch: the batch (labels already converted by :func:`convert_labels`).
        nominal: float64 unshrunk weights at the start of the batch, one per local coordinate.
        loss_type: 'logistic_loss' or 'squared_loss'.
        l1: symmetric l1 regularisation (>= 0).
        l2: symmetric l2 regularisation (> 0).
        num_loss_partitions: TF's ``num_loss_partitions`` (K).
        order: the visiting order, a permutation of ``range(B)``.

    Returns:
        The weight delta and the examples' new state rows.
    """
    updated_dual = _logistic_dual if loss_type == "logistic_loss" else _squared_dual
    shrinkage = l1 / l2
    k = int(num_loss_partitions)
    norms = batch.squared_norms() / l2  # (B,) TF's normalized_squared_norm
    prev_wx = batch.dot(shrink(nominal, shrinkage))  # (B,) logits before this batch
    delta = np.zeros_like(nominal)
    new_duals = batch.duals.copy()
    indptr, cols, vals = batch.indptr, batch.cols, batch.vals
    labels, weights, duals = batch.labels.tolist(), batch.weights.tolist(), batch.duals.tolist()
    norm_list = norms.tolist()
    for i in order.tolist():  # sequential: each visit sees the previous visits' updates
        lo, hi = indptr[i], indptr[i + 1]
        c, v = cols[lo:hi], vals[lo:hi]
        w = shrink(nominal[c] + k * delta[c], shrinkage)
        wx = float(np.dot(w, v))
        dual = duals[i]
        new_dual = updated_dual(k, labels[i], weights[i], dual, wx, norm_list[i])
        delta[c] += ((new_dual - dual) * weights[i] / l2) * v
        new_duals[i] = new_dual
    state = np.stack(
        [
            new_duals,
            _primal_losses(prev_wx, batch.labels, batch.weights, loss_type),
            _dual_losses(batch.duals, batch.labels, batch.weights, loss_type),
            batch.weights,
        ],
        axis=1,
    ).astype(np.float32)  # (B, 4)
    return BatchResult(delta=delta, state=state)
