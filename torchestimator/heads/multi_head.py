"""``MultiHead``: several named heads on one model, losses summed (tf.estimator.MultiHead)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError, did_you_mean
from torchestimator.heads.base import Head, add_n, resolve_train_op
from torchestimator.heads.export_output import PredictOutput
from torchestimator.heads.keys import DEFAULT_SERVING_KEY, PREDICT_SERVING_KEY, MetricKeys
from torchestimator.heads.lazy_predictions import LazyPredictions
from torchestimator.metrics import Mean, Metric
from torchestimator.spec import EstimatorSpec, ModeKeys

__all__ = ["MultiHead"]


class MultiHead(Head):
    """Combine named heads (tf.estimator.MultiHead).

    * logits: one tensor ``[B, sum(head.logits_dimension)]`` split in head order, or a dict by head name;
    * labels: a dict by head name;
    * loss: ``sum(head_weight_i * head_i.loss)`` (+ regularization);
    * predictions: keys are tuples ``(head_name, key)``;
    * metrics: every head's metrics (each named head suffixes its own keys ``/name``) plus
      ``loss/<head_name>`` (the mean over batches of that head's reduced loss);
    * export: the first head's default signature is ``serving_default``; every head's signatures
      are keyed ``<head_name>`` (its default) or ``<head_name>/<key>``; ``predict`` merges all
      predictions as ``<head_name>/<key>``.

    Args:
        heads: heads, each with a ``name``.
        head_weights: optional loss weight per head.

    Raises:
        InvalidArgumentError: no heads, an unnamed head, or ``head_weights`` of another length.
    """

    def __init__(self, heads: Sequence[Head], head_weights: Sequence[float] | None = None) -> None:
        if not heads:
            raise InvalidArgumentError(f"MultiHead needs at least one head; received {heads!r}.")
        if head_weights and len(head_weights) != len(heads):
            raise InvalidArgumentError(
                f"heads and head_weights must have the same length; received {len(heads)} heads and "
                f"{len(head_weights)} weights."
            )
        unnamed = [type(h).__name__ for h in heads if not h.name]
        if unnamed:
            raise InvalidArgumentError(f"every head of a MultiHead needs a name; unnamed: {unnamed}.")
        names = [h.name for h in heads]
        if len(set(names)) != len(names):
            raise InvalidArgumentError(f"MultiHead head names must be unique; received {names}.")
        self._heads = tuple(heads)
        self._head_weights = tuple(float(w) for w in head_weights) if head_weights else ()
        super().__init__(loss_reduction=self.loss_reduction, name=None)

    @property
    def name(self) -> str:
        return "_".join(str(h.name) for h in self._heads)

    @property
    def logits_dimension(self) -> int:
        return sum(h.logits_dimension for h in self._heads)

    @property
    def loss_reduction(self) -> str:
        reductions = {h.loss_reduction for h in self._heads}
        if len(reductions) > 1:
            raise InvalidArgumentError(
                f"the loss_reduction must be the same for every head of a MultiHead; received {sorted(reductions)}."
            )
        return reductions.pop()

    @property
    def heads(self) -> tuple[Head, ...]:
        """The component heads, in order."""
        return self._heads

    def _split_logits(self, logits: Any) -> dict[str, torch.Tensor]:
        names = [str(h.name) for h in self._heads]
        if isinstance(logits, Mapping):
            missing = [n for n in names if n not in logits]
            if missing:
                raise InvalidArgumentError(
                    f"logits has no values for head(s) {missing}; received keys {list(logits)}."
                )
            return {n: logits[n] for n in names}
        dims = [h.logits_dimension for h in self._heads]
        if logits.shape[-1] != sum(dims):
            raise InvalidArgumentError(
                f"cannot split logits of shape {list(logits.shape)} among heads with logits dimensions {dims}: the "
                f"last dimension must be {sum(dims)}."
            )
        return dict(zip(names, torch.split(logits, dims, dim=-1)))

    def _check_labels(self, labels: Any) -> Mapping[str, Any]:
        names = [str(h.name) for h in self._heads]
        if not isinstance(labels, Mapping):
            raise InvalidArgumentError(
                f"MultiHead expects labels as a dict keyed by head name {names}; received "
                f"{type(labels).__name__}. Yield (features, {{name: labels}}) from the input_fn."
            )
        missing = [n for n in names if n not in labels]
        if missing:
            raise InvalidArgumentError(
                f"MultiHead labels have no values for head(s) {missing}; received keys {list(labels)}, "
                f"expected {names}{did_you_mean(missing[0], map(str, labels))}."
            )
        return labels

    def _head_losses(
        self, labels: Any, logits: Any, features: Mapping[str, Any] | None
    ) -> list[torch.Tensor]:
        split = self._split_logits(logits)
        labels = self._check_labels(labels)
        return [h.loss(labels[h.name], split[str(h.name)], features) for h in self._heads]

    def loss(
        self,
        labels: Any,
        logits: Any,
        features: Mapping[str, Any] | None = None,
        mode: str | None = None,
        regularization_losses: Sequence[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Weighted sum of the heads' reduced losses, plus regularization."""
        losses = self._head_losses(labels, logits, features)
        if self._head_weights:
            losses = [loss * w for loss, w in zip(losses, self._head_weights)]
        total = add_n(losses)
        if regularization_losses:
            total = total + add_n(regularization_losses)
        return total

    def predictions(self, logits: Any, keys: Sequence[str] | None = None) -> dict[Any, Any]:
        """Every head's predictions, keyed ``(head_name, key)``."""
        split = self._split_logits(logits)
        out: dict[Any, Any] = {}
        for h in self._heads:
            for k, v in h.predictions(split[str(h.name)], keys).items():
                out[(h.name, k)] = v
        return out

    def metrics(
        self,
        features: Mapping[str, Any] | None,
        logits: Any,
        labels: Any,
        regularization_losses: Sequence[torch.Tensor] | None = None,
    ) -> dict[str, Metric]:
        """``loss/<head>`` per head, every head's own metrics, and ``regularization_loss``."""
        split = self._split_logits(logits)
        labels = self._check_labels(labels)
        out: dict[str, Metric] = {}
        if regularization_losses:
            out[MetricKeys.LOSS_REGULARIZATION] = Mean(add_n(regularization_losses).detach())
        for h in self._heads:
            head_logits = split[str(h.name)]
            out[f"{MetricKeys.LOSS}/{h.name}"] = Mean(h.loss(labels[h.name], head_logits, features).detach())
            out.update(h.metrics(features, head_logits, labels[h.name]))
        return out

    def create_estimator_spec(
        self,
        features: Mapping[str, Any] | None,
        mode: str,
        logits: Any,
        labels: Any = None,
        optimizer: Any = None,
        train_op_fn: Callable[[torch.Tensor], Any] | None = None,
        regularization_losses: Sequence[torch.Tensor] | None = None,
    ) -> EstimatorSpec:
        """The :class:`EstimatorSpec` for ``mode`` (see :meth:`Head.create_estimator_spec`)."""
        ModeKeys.validate(mode)
        if mode == ModeKeys.PREDICT:
            split = self._split_logits(logits)
            head_specs = [h.create_estimator_spec(features, mode, split[str(h.name)]) for h in self._heads]
            return EstimatorSpec(
                mode, predictions=self.predictions(logits), export_outputs=self._merge_exports(head_specs)
            )
        split = self._split_logits(logits)
        head_keys = {str(h.name): h.device_prediction_keys() for h in self._heads}

        def device_predictions() -> dict[Any, Any]:
            out: dict[Any, Any] = {}
            for h in self._heads:
                name = str(h.name)
                out.update({(h.name, k): v for k, v in h.predictions(split[name], head_keys[name]).items()})
            return out

        loss = self.loss(labels, logits, features, mode, regularization_losses)
        if mode == ModeKeys.EVAL:
            metrics = self.metrics(features, logits, labels, regularization_losses)
            return EstimatorSpec(mode, predictions=device_predictions(), loss=loss, eval_metric_ops=metrics)
        keys = [(h.name, k) for h in self._heads for k in head_keys[str(h.name)]]
        predictions = LazyPredictions(keys, device_predictions)  # computed only if a hook reads them
        return EstimatorSpec(
            mode, predictions=predictions, loss=loss, train_op=resolve_train_op(optimizer, train_op_fn)
        )

    def _prediction_keys(self) -> list[str]:
        raise InvalidArgumentError("MultiHead prediction keys are (head_name, key) tuples; ask each head.")

    def _merge_exports(self, head_specs: Sequence[EstimatorSpec]) -> dict[str, Any]:
        first = dict(head_specs[0].export_outputs or {})
        if len(first) == 1:
            default = next(iter(first.values()))
        elif DEFAULT_SERVING_KEY in first:
            default = first[DEFAULT_SERVING_KEY]
        else:
            raise InvalidArgumentError(
                f"head {self._heads[0].name!r} has no {DEFAULT_SERVING_KEY!r} export output; received {list(first)}."
            )
        exports: dict[str, Any] = {DEFAULT_SERVING_KEY: default}
        merged: dict[str, Any] = {}
        for h, spec in zip(self._heads, head_specs):
            for k, v in (spec.export_outputs or {}).items():
                exports[str(h.name) if k == DEFAULT_SERVING_KEY else f"{h.name}/{k}"] = v
                if k == PREDICT_SERVING_KEY and isinstance(v, PredictOutput):
                    merged.update({f"{h.name}/{pk}": pv for pk, pv in v.outputs.items()})
        exports[PREDICT_SERVING_KEY] = PredictOutput(merged)
        return exports
