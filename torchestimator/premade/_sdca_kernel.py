"""The dual coordinate ascent of one batch (TF's ``SdcaOptimizerV2`` kernel, ``sdca_ops.cc``), in numpy.

Primal problem over the examples seen so far (weights ``ew_i``, labels ``y_i``, features ``x_i``)::

    min_w  Σ_i ew_i · φ(w·x_i, y_i)  +  l2/2 · ||w||²  +  l1 · ||w||₁

SDCA keeps one dual variable ``a_i`` per example and the *unshrunk* primal weights
``v = Σ_i a_i · ew_i · x_i / l2``; the model's weights are ``w = shrink(v)`` (soft-thresholding by
``l1 / l2``). One batch visits its examples once each in a random order (TF draws it from
``std::random_device``), or, with ``adaptive``, in a sequence drawn by :func:`adaptive_order`; each visit solves for the example's new dual in closed form (squared
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

__all__ = ["LOSS_TYPES", "BatchResult", "SDCABatch", "adaptive_order", "dual_coordinate_ascent", "shrink"]

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
    rows: np.ndarray | None = None  # float32 (B, 4) their state rows before this batch (zeros if unseen)

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


def _primal_derivative(wx: np.ndarray, labels: np.ndarray, loss_type: str) -> np.ndarray:
    """d loss / d wx at example weight 1 (TF's ``PrimalLossDerivative``)."""
    if loss_type == "logistic_loss":
        y_wx = labels * wx
        inverse_exp = np.where(
            y_wx > 0, np.exp(-np.abs(y_wx)) / (1 + np.exp(-np.abs(y_wx))), 1 / (1 + np.exp(np.abs(y_wx)))
        )
        return -inverse_exp * labels
    return wx - labels


def adaptive_order(
    batch: SDCABatch, nominal: np.ndarray, loss_type: str, l1: float, l2: float, uniform: np.ndarray
) -> np.ndarray:
    """TF's adaptive visiting sequence (``Examples::SampleAdaptiveProbabilities``).

    Example ``i`` is drawn with probability proportional to
    ``w_i · sqrt(|x_i|² + l2 · smoothness) · |dual_i + loss'(wx_i)|`` (smoothness 4 for logistic, 1 for
    squared loss), and a draw of an example already drawn ``c`` times is kept with probability
    ``0.1^c``; after ``B`` rejections the sampling stops. As in TF 2.15 (whose fill-in of the unseen
    examples writes to the wrong array), the remaining visits go to example 0.

    Args:
        batch: the batch.
        nominal: the unshrunk weights at the start of the batch.
        loss_type: 'logistic_loss' or 'squared_loss'.
        l1: symmetric l1.
        l2: symmetric l2.
        uniform: at least ``4 · B`` uniform draws in [0, 1).

    Returns:
        The visiting order, ``B`` example indices.
    """
    num = batch.num_examples
    wx = batch.dot(shrink(nominal, l1 / l2))
    smoothness = 4.0 if loss_type == "logistic_loss" else 1.0
    kappa = batch.duals + _primal_derivative(wx, batch.labels, loss_type)
    probabilities = batch.weights * np.sqrt(batch.squared_norms() + l2 * smoothness) * np.abs(kappa)  # (B,)
    cumsum = np.cumsum(probabilities)
    total = float(cumsum[-1]) if num else 0.0
    picks_u, keep_u = uniform[: 2 * num], uniform[2 * num : 4 * num]
    if total > 0:
        picks = np.minimum(np.searchsorted(cumsum, picks_u * total, side="right"), num - 1)
    else:
        picks = np.minimum((picks_u * num).astype(np.int64), num - 1)
    order = np.zeros(num, np.int64)
    counts = np.zeros(num, np.int64)
    filled = retries = draw = 0
    while filled < num and retries < num and draw < len(picks):
        pick = int(picks[draw])
        if keep_u[draw] > 0.1 ** counts[pick]:
            retries += 1
        else:
            counts[pick] += 1
            order[filled] = pick
            filled += 1
        draw += 1
    return order


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
        order: the visiting order: a permutation of ``range(B)``, or (adaptive) any sequence of
            examples; an example visited twice starts its second visit from its updated dual.

    Returns:
        The weight delta and the examples' new state rows.
    """
    updated_dual = _logistic_dual if loss_type == "logistic_loss" else _squared_dual
    shrinkage = l1 / l2
    k = int(num_loss_partitions)
    norms = batch.squared_norms() / l2  # (B,) TF's normalized_squared_norm
    prev_wx = batch.dot(shrink(nominal, shrinkage))  # (B,) logits before this batch
    delta = np.zeros_like(nominal)
    indptr, cols, vals = batch.indptr, batch.cols, batch.vals
    labels, weights, duals = batch.labels.tolist(), batch.weights.tolist(), batch.duals.tolist()
    dual_before = list(duals)  # each example's dual before its last visit (for the dual loss)
    norm_list = norms.tolist()
    float32 = np.float32
    for i in order.tolist():  # sequential: each visit sees the previous visits' updates
        lo, hi = indptr[i], indptr[i + 1]
        c, v = cols[lo:hi], vals[lo:hi]
        w = shrink(nominal[c] + k * delta[c], shrinkage)
        wx = float(np.dot(w, v))
        dual = duals[i]
        new_dual = updated_dual(k, labels[i], weights[i], dual, wx, norm_list[i])
        delta[c] += ((new_dual - dual) * weights[i] / l2) * v
        dual_before[i] = dual
        duals[i] = float(float32(new_dual))  # TF stores the dual as float32 before the next visit reads it
    visited = np.zeros(batch.num_examples, bool)
    visited[order] = True
    fresh = np.stack(
        [
            np.asarray(duals),
            _primal_losses(prev_wx, batch.labels, batch.weights, loss_type),
            _dual_losses(np.asarray(dual_before), batch.labels, batch.weights, loss_type),
            batch.weights,
        ],
        axis=1,
    ).astype(np.float32)  # (B, 4)
    previous = batch.rows
    if previous is None:  # only the duals are known
        previous = np.zeros((batch.num_examples, 4), np.float32)
        previous[:, 0] = batch.duals
    state = np.where(visited[:, None], fresh, previous)  # TF leaves unvisited examples' rows as they were
    return BatchResult(delta=delta, state=state)
