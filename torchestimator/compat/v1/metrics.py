"""``tf.compat.v1.metrics``: TF1's functional streaming metrics, returning ``(value, update_op)``.

Each call returns a :class:`MetricOp`: a 2-tuple ``(value, update_op)`` as in TF (both the running value
after this batch: ``metric[1]`` in ``tf.summary.scalar`` shows TF's running value), **and** a
:class:`~torchestimator.metrics.Metric` holding this batch's additive state, so the evaluation loop
streams it over every eval batch (and all-reduces it across processes) exactly as TF's local variables
accumulate. Put it in ``eval_metric_ops`` as in TF::

    accuracy = te.compat.v1.metrics.accuracy(labels=labels, predictions=predicted_classes, name="acc_op")
    te.compat.v1.summary.scalar("accuracy", accuracy[1])      # running value, as TF
    return te.EstimatorSpec(mode, loss=loss, eval_metric_ops={"accuracy": accuracy})

=============================  ================================  ==========================================
metric                         state (summed over batches)       value
=============================  ================================  ==========================================
``accuracy``                   (sum w [p == l], sum w)           ratio (0 when no weight)
``mean``                       (sum w v, sum w)                  ratio
``mean_squared_error``         (sum w (p - l)^2, sum w)          ratio
``mean_absolute_error``        (sum w abs(p - l), sum w)         ratio
``root_mean_squared_error``    (sum w (p - l)^2, sum w)          sqrt(ratio)
``precision`` / ``recall``     (tp, fp) / (tp, fn), weighted     tp / (tp + fp) / tp / (tp + fn)
``auc``                        positives / negatives per bucket  TF1's AUC (epsilon 1e-6, its summations)
``true_positives`` ... (4)     weighted count                    the count
=============================  ================================  ==========================================

Running values (``update_op``) restart with every ``train()`` / ``evaluate()`` call, as TF's local
variables do with each session; outside a function model_fn they cover the current batch only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.metrics.auc import auc_histograms
from torchestimator.metrics.base import Metric
from torchestimator.metrics.external import tuple_metric_error

__all__ = [
    "MetricOp",
    "accuracy",
    "auc",
    "auc_from_histograms",
    "false_negatives",
    "false_positives",
    "mean",
    "mean_absolute_error",
    "mean_squared_error",
    "precision",
    "recall",
    "root_mean_squared_error",
    "true_negatives",
    "true_positives",
    "tuple_metric_error",
]

_EPSILON = 1.0e-6  # TF1 auc's epsilon


def _div_no_nan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(
        b != 0, a / b, torch.zeros_like(a)
    )  # detached state: the masked inf/nan never propagates


class MetricOp(Metric):
    """``(value, update_op)`` of a TF1 metric and the batch's additive state (see the module docstring)."""

    kind = "metric"

    def __init__(self, state: Sequence[torch.Tensor], name: str | None) -> None:
        super().__init__([torch.as_tensor(s).detach().double() for s in state])
        running = _running(self, name)
        self.update_op = self.value_of(running)  # () float tensor
        self.value = self.update_op

    def value_of(self, state: Sequence[torch.Tensor]) -> torch.Tensor:
        """The metric's value from (summed) state, as a tensor (no host sync)."""
        raise NotImplementedError

    def compute(self, state: Sequence[torch.Tensor]) -> float:  # type: ignore[override]
        return float(self.value_of([torch.as_tensor(s).double() for s in state]))

    def __iter__(self) -> Any:
        return iter((self.value, self.update_op))

    def __getitem__(self, index: int) -> torch.Tensor:
        return (self.value, self.update_op)[index]

    def __len__(self) -> int:
        return 2


def _running(op: MetricOp, name: str | None) -> tuple[torch.Tensor, ...]:
    """This batch's state added to the running state of the same metric in the running model_fn."""
    from torchestimator import function_model

    scope = function_model.active_scope()
    if scope is None or scope.building:
        return op.state
    key = scope.metric_key(f"{op.kind}:{name or op.kind}")
    totals = scope.model.running_metrics.setdefault(scope.mode, {})
    previous = totals.get(key)
    running = op.state if previous is None else tuple(a + b for a, b in zip(previous, op.state))
    totals[key] = running
    return running


def _squeezed(labels: Any, predictions: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """TF's remove_squeezable_dimensions: drop a trailing size-1 dim that makes the ranks differ by one."""
    p = torch.as_tensor(predictions).detach()
    lab = torch.as_tensor(labels, device=p.device).detach()
    if p.dim() == lab.dim() + 1 and p.shape[-1] == 1:
        p = p.squeeze(-1)
    elif lab.dim() == p.dim() + 1 and lab.shape[-1] == 1:
        lab = lab.squeeze(-1)
    return lab, p


def _weights(weights: Any, values: torch.Tensor, name: str) -> torch.Tensor:
    if weights is None:
        return torch.ones_like(values, dtype=torch.float64)
    w = torch.as_tensor(weights, device=values.device).detach().double()
    if w.dim() == values.dim() + 1 and w.shape[-1] == 1:
        w = w.squeeze(-1)
    try:
        return torch.broadcast_to(w, values.shape)
    except RuntimeError:
        raise InvalidArgumentError(
            f"metrics.{name}: weights of shape {list(w.shape)} cannot be broadcast to the values' shape "
            f"{list(values.shape)}."
        ) from None


class _Ratio(MetricOp):
    def value_of(self, state: Sequence[torch.Tensor]) -> torch.Tensor:
        return _div_no_nan(state[0], state[1])


class _RootRatio(MetricOp):
    kind = "root_mean_squared_error"

    def value_of(self, state: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.sqrt(_div_no_nan(state[0], state[1]))


def _ratio_op(
    cls: type[MetricOp], kind: str, values: torch.Tensor, weights: Any, name: str | None
) -> MetricOp:
    values = values.double()
    w = _weights(weights, values, kind)
    op = object.__new__(cls)
    op.kind = kind
    MetricOp.__init__(op, ((values * w).sum(), w.sum()), name)
    return op


def mean(
    values: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricOp:
    """``tf.compat.v1.metrics.mean``: the weighted mean of ``values``."""
    return _ratio_op(_Ratio, "mean", torch.as_tensor(values).detach(), weights, name)


def accuracy(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricOp:
    """``tf.compat.v1.metrics.accuracy``: weighted fraction of ``predictions == labels``."""
    lab, p = _squeezed(labels, predictions)
    if p.dtype != lab.dtype:
        p = p.to(lab.dtype)  # TF casts predictions to the labels' dtype
    return _ratio_op(_Ratio, "accuracy", (p == lab).double(), weights, name)


def mean_squared_error(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricOp:
    """``tf.compat.v1.metrics.mean_squared_error``."""
    lab, p = _squeezed(labels, predictions)
    return _ratio_op(_Ratio, "mean_squared_error", (p.double() - lab.double()) ** 2, weights, name)


def mean_absolute_error(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricOp:
    """``tf.compat.v1.metrics.mean_absolute_error``."""
    lab, p = _squeezed(labels, predictions)
    return _ratio_op(_Ratio, "mean_absolute_error", (p.double() - lab.double()).abs(), weights, name)


def root_mean_squared_error(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricOp:
    """``tf.compat.v1.metrics.root_mean_squared_error``: the square root of the streamed MSE."""
    lab, p = _squeezed(labels, predictions)
    return _ratio_op(_RootRatio, "root_mean_squared_error", (p.double() - lab.double()) ** 2, weights, name)


class _Precision(MetricOp):
    kind = "precision"

    def value_of(self, state: Sequence[torch.Tensor]) -> torch.Tensor:
        return _div_no_nan(state[0], state[0] + state[1])


class _Recall(_Precision):
    kind = "recall"


def _confusion_op(
    cls: type[MetricOp], labels: Any, predictions: Any, weights: Any, name: str | None, positive: bool
) -> MetricOp:
    lab, p = _squeezed(labels, predictions)
    lab, p = lab.bool(), p.bool()
    w = _weights(weights, p.double(), cls.kind)
    tp = (w * (lab & p).double()).sum()
    other = (w * ((~lab & p) if positive else (lab & ~p)).double()).sum()  # fp for precision, fn for recall
    return cls((tp, other), name)


def precision(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricOp:
    """``tf.compat.v1.metrics.precision``: ``tp / (tp + fp)`` of boolean-cast labels and predictions."""
    return _confusion_op(_Precision, labels, predictions, weights, name, positive=True)


def recall(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricOp:
    """``tf.compat.v1.metrics.recall``: ``tp / (tp + fn)`` of boolean-cast labels and predictions."""
    return _confusion_op(_Recall, labels, predictions, weights, name, positive=False)


class _Count(MetricOp):
    kind = "count"

    def value_of(self, state: Sequence[torch.Tensor]) -> torch.Tensor:
        return state[0]


def _count_op(
    kind: str, labels: Any, predictions: Any, weights: Any, name: str | None, label: bool, predicted: bool
) -> MetricOp:
    lab, p = _squeezed(labels, predictions)
    lab, p = lab.bool(), p.bool()
    w = _weights(weights, p.double(), kind)
    hit = (lab if label else ~lab) & (p if predicted else ~p)
    op = object.__new__(_Count)
    op.kind = kind
    MetricOp.__init__(op, ((w * hit.double()).sum(),), name)
    return op


def true_positives(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricOp:
    """``tf.compat.v1.metrics.true_positives``: the weighted count of ``labels & predictions`` (cast to bool)."""
    return _count_op("true_positives", labels, predictions, weights, name, True, True)


def false_positives(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricOp:
    """``tf.compat.v1.metrics.false_positives``: the weighted count of ``~labels & predictions``."""
    return _count_op("false_positives", labels, predictions, weights, name, False, True)


def true_negatives(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricOp:
    """``tf.compat.v1.metrics.true_negatives``: the weighted count of ``~labels & ~predictions``."""
    return _count_op("true_negatives", labels, predictions, weights, name, False, False)


def false_negatives(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricOp:
    """``tf.compat.v1.metrics.false_negatives``: the weighted count of ``labels & ~predictions``."""
    return _count_op("false_negatives", labels, predictions, weights, name, True, False)


class _AUC(MetricOp):
    kind = "auc"
    curve = "ROC"
    summation_method = "trapezoidal"

    def value_of(self, state: Sequence[torch.Tensor]) -> torch.Tensor:
        pos, neg = state[0], state[1]
        tp = torch.flip(
            torch.cumsum(torch.flip(pos, [0]), 0), [0]
        )  # (T,) weight of positives above threshold i
        fp = torch.flip(torch.cumsum(torch.flip(neg, [0]), 0), [0])  # (T,)
        fn, tn = pos.sum() - tp, neg.sum() - fp
        if self.curve == "PR" and self.summation_method == "careful_interpolation":
            return _interpolate_pr_auc(tp, fp, fn)
        rec = (tp + _EPSILON) / (tp + fn + _EPSILON)
        if self.curve == "ROC":
            x, y = fp / (fp + tn + _EPSILON), rec
        else:
            x, y = rec, (tp + _EPSILON) / (tp + fp + _EPSILON)
        dx = x[:-1] - x[1:]
        if self.summation_method == "minoring":
            return (dx * torch.minimum(y[:-1], y[1:])).sum()
        if self.summation_method == "majoring":
            return (dx * torch.maximum(y[:-1], y[1:])).sum()
        return (dx * (y[:-1] + y[1:]) / 2.0).sum()


def _interpolate_pr_auc(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
    """TF1's 'careful_interpolation' PR AUC (Davis & Goadrich, 2006), term by term as metrics_impl.py."""
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    slope = _div_no_nan(dtp, torch.clamp(p[:-1] - p[1:], min=0))
    intercept = tp[1:] - slope * p[1:]
    ratio = torch.where(
        (p[:-1] > 0) & (p[1:] > 0), _div_no_nan(p[:-1], torch.clamp(p[1:], min=0)), torch.ones_like(p[1:])
    )
    return _div_no_nan(
        slope * (dtp + intercept * torch.log(ratio)), torch.clamp(tp[1:] + fn[1:], min=0)
    ).sum()


def auc_from_histograms(state: Sequence[torch.Tensor], curve: str = "ROC") -> MetricOp:
    """TF1's ``auc`` (trapezoidal) over additive histograms from :func:`~torchestimator.metrics.auc_histograms`."""
    op = object.__new__(_AUC)
    op.curve = curve
    MetricOp.__init__(op, state, None)
    return op


def auc(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    num_thresholds: int = 200,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    curve: str = "ROC",
    name: str | None = None,
    summation_method: str = "trapezoidal",
    thresholds: Any = None,
) -> MetricOp:
    """``tf.compat.v1.metrics.auc``: area under the ROC or PR curve at ``num_thresholds`` thresholds.

    Raises:
        InvalidArgumentError: an unknown ``curve`` / ``summation_method``, or explicit ``thresholds``.
    """
    if curve not in ("ROC", "PR"):
        raise InvalidArgumentError(f"metrics.auc: curve must be 'ROC' or 'PR'; received {curve!r}.")
    methods = ("trapezoidal", "careful_interpolation", "minoring", "majoring")
    if summation_method not in methods:
        raise InvalidArgumentError(
            f"metrics.auc: summation_method must be one of {list(methods)}; received {summation_method!r}."
        )
    if thresholds is not None:
        raise InvalidArgumentError("metrics.auc: explicit thresholds are not supported; use num_thresholds.")
    lab, p = _squeezed(labels, predictions)
    w = None if weights is None else _weights(weights, p.double(), "auc")
    state = auc_histograms(lab, p, w, num_thresholds)
    op = object.__new__(_AUC)
    op.curve, op.summation_method = curve, summation_method
    MetricOp.__init__(op, state, name)
    return op
