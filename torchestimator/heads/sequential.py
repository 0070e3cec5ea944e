"""``SequentialHeadWrapper``: a head over per-step logits ``(B, T, d)`` (TF ``head/sequential_head.py``).

TRAIN / EVAL flatten the valid steps (the boolean ``(B, T)`` sequence mask found in the features
under ``sequence_length_mask``) before calling the wrapped head, so loss and metrics count only
real steps::

    logits (B, T, d) ─► logits[mask]  (N, d)          N = number of valid steps
    labels (B, T)    ─► labels[mask]  (N, 1)          (a Ragged of per-step labels: its values)
    features[col]    ─► features[col][mask] (N, 1)    for the ``feature_columns`` (e.g. the weights)

PREDICT calls the wrapped head on the unflattened logits and adds the mask to the predictions
under the same key (and to the ``predict`` signature).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.heads.base import Head
from torchestimator.heads.multi_head import MultiHead
from torchestimator.metrics.base import Metric
from torchestimator.parsing import Ragged
from torchestimator.spec import EstimatorSpec, ModeKeys

__all__ = ["SequentialHeadWrapper"]


def _flatten(value: Any, mask: torch.Tensor, expected: int, name: str, device: torch.device) -> Any:
    """``value`` (B, T, ...) -> (N, ...) on the mask's valid steps; 2-D values get a trailing 1."""
    if isinstance(value, Ragged):
        flat: Any = np.asarray(value.values)
        lengths = value.row_lengths()
        if lengths.shape[0] != mask.shape[0] or not np.array_equal(lengths, mask.sum(1).cpu().numpy()):
            raise InputError(
                f"{name}: per-example lengths {lengths[:8].tolist()} do not match the sequence lengths "
                f"{mask.sum(1)[:8].tolist()}; give one {name} value per step."
            )
        rank2 = True
    elif isinstance(value, torch.Tensor):
        if value.dim() < 2:
            raise InvalidArgumentError(
                f"{name} must have at least 2 dimensions [batch, steps]; received shape {list(value.shape)}."
            )
        if tuple(value.shape[:2]) != tuple(mask.shape):
            raise InputError(
                f"{name} shape {list(value.shape)} is incompatible with the sequence mask {list(mask.shape)}."
            )
        flat = value[mask.to(value.device)]
        rank2 = value.dim() == 2
    else:
        arr = np.asarray(value)
        if arr.ndim < 2:
            raise InvalidArgumentError(
                f"{name} must have at least 2 dimensions [batch, steps]; received shape {list(arr.shape)}."
            )
        if tuple(arr.shape[:2]) != tuple(mask.shape):
            raise InputError(
                f"{name} shape {list(arr.shape)} is incompatible with the sequence mask {list(mask.shape)}."
            )
        flat = arr[mask.cpu().numpy()]
        rank2 = arr.ndim == 2
    if len(flat) != expected:
        raise InputError(f"{name}: {len(flat)} values for {expected} valid steps.")
    if rank2:
        flat = flat.reshape(-1, 1)
    if isinstance(flat, np.ndarray) and flat.dtype.kind in "fiub":
        return torch.from_numpy(np.ascontiguousarray(flat)).to(device)
    return flat


def _per_example_class_lists(predictions: dict[Any, Any]) -> dict[Any, Any]:
    """TF tiles ``all_class_ids`` / ``all_classes`` over the batch only: ``(B, n)``, not ``(B, T, n)``."""
    for key in ("all_class_ids", "all_classes"):
        value = predictions.get(key)
        if value is not None and value.ndim == 3:
            predictions[key] = value[:, 0]
    return predictions


class SequentialHeadWrapper(Head):
    """A sequential head wrapping ``static_head`` (see the module docstring).

    Args:
        static_head: the head applied to the flattened steps (not a :class:`MultiHead`).
        sequence_length_mask: features key of the ``(B, T)`` boolean mask.
        feature_columns: a features key or a list of keys to flatten with the mask (the weights).

    Raises:
        InvalidArgumentError: a non-string mask key or feature key, or a MultiHead.
    """

    def __init__(
        self,
        static_head: Head,
        sequence_length_mask: str = "sequence_length_mask",
        feature_columns: str | Sequence[str] | None = None,
    ) -> None:
        if not isinstance(sequence_length_mask, str):
            raise InvalidArgumentError(
                f"`sequence_mask` column must be a string; received {type(sequence_length_mask).__name__}."
            )
        columns = [feature_columns] if isinstance(feature_columns, str) else list(feature_columns or [])
        for column in columns:
            if not isinstance(column, str):
                raise InvalidArgumentError(
                    f"SequentialHeadWrapper: feature_columns must be feature keys (strings); received "
                    f"{type(column).__name__} (a numeric_column weight is not supported with return_sequences)."
                )
        if isinstance(static_head, MultiHead):
            raise InvalidArgumentError("`MultiHead` is not supported with `SequentialHeadWrapper`.")
        if not isinstance(static_head, Head):
            raise InvalidArgumentError(
                f"SequentialHeadWrapper: static_head must be a Head; received {type(static_head).__name__}."
            )
        super().__init__(loss_reduction=static_head.loss_reduction)
        self._static_head = static_head
        self._mask_key = sequence_length_mask
        self._feature_columns = columns

    @property
    def static_head(self) -> Head:
        """The wrapped head."""
        return self._static_head

    @property
    def input_sequence_mask_key(self) -> str:
        """Features key of the sequence mask."""
        return self._mask_key

    @property
    def logits_dimension(self) -> int:
        return self._static_head.logits_dimension

    @property
    def name(self) -> str | None:
        inner = self._static_head.name
        return f"{inner}_sequential" if inner else None

    def _flatten(
        self, labels: Any, logits: torch.Tensor, features: Mapping[str, Any] | None
    ) -> tuple[Any, torch.Tensor, dict[str, Any]]:
        if features is None or self._mask_key not in features:
            raise InvalidArgumentError(
                f"The provided sequence_length_mask key `{self._mask_key}` should be included in the features "
                f"dictionary, but was not found. Found keys: {sorted(features or {})}."
            )
        mask = torch.as_tensor(features[self._mask_key]).to(torch.bool)
        if mask.dim() != 2:
            raise InvalidArgumentError(f"Mask is expected to have two dimensions, got {mask.dim()} instead.")
        expected = int(mask.sum())
        flat_logits = _flatten(logits, mask, expected, "logits", logits.device)
        flat_labels = _flatten(labels, mask, expected, "labels", logits.device)
        flat_features: dict[str, Any] = {}
        for column in self._feature_columns:
            if column not in features:
                raise InvalidArgumentError(f"`{column}` column expected in features dictionary.")
            flat_features[column] = _flatten(features[column], mask, expected, column, logits.device)
        return flat_labels, flat_logits, flat_features

    def loss(
        self,
        labels: Any,
        logits: torch.Tensor,
        features: Mapping[str, Any] | None = None,
        mode: str | None = None,
        regularization_losses: Sequence[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The wrapped head's loss over the valid steps."""
        flat_labels, flat_logits, flat_features = self._flatten(labels, logits, features)
        return self._static_head.loss(flat_labels, flat_logits, flat_features, mode, regularization_losses)

    def predictions(self, logits: torch.Tensor, keys: Sequence[str] | None = None) -> dict[Any, Any]:
        """The wrapped head's predictions; ``all_class_ids`` / ``all_classes`` per example ``(B, n)`` as TF's."""
        return _per_example_class_lists(self._static_head.predictions(logits, keys))

    def metrics(
        self,
        features: Mapping[str, Any] | None,
        logits: torch.Tensor,
        labels: Any,
        regularization_losses: Sequence[torch.Tensor] | None = None,
    ) -> dict[str, Metric]:
        flat_labels, flat_logits, flat_features = self._flatten(labels, logits, features)
        return self._static_head.metrics(flat_features, flat_logits, flat_labels, regularization_losses)

    def create_estimator_spec(
        self,
        features: Mapping[str, Any] | None,
        mode: str,
        logits: torch.Tensor,
        labels: Any = None,
        optimizer: Any = None,
        train_op_fn: Callable[[torch.Tensor], Any] | None = None,
        regularization_losses: Sequence[torch.Tensor] | None = None,
    ) -> EstimatorSpec:
        """PREDICT: the wrapped head's spec plus the mask; TRAIN / EVAL: on the flattened steps."""
        ModeKeys.validate(mode)
        if mode == ModeKeys.PREDICT:
            spec = self._static_head.create_estimator_spec(features, mode, logits)
            if features is None or self._mask_key not in features:
                raise InvalidArgumentError(
                    f"The sequence mask `{self._mask_key}` must be in the features in PREDICT mode."
                )
            predictions = _per_example_class_lists(dict(spec.predictions))
            predictions[self._mask_key] = torch.as_tensor(features[self._mask_key])
            # the signatures read the final predictions (so 'predict' also serves the mask)
            export_outputs = self._static_head.export_outputs(predictions)
            return spec.replace(predictions=predictions, export_outputs=export_outputs)
        flat_labels, flat_logits, flat_features = self._flatten(labels, logits, features)
        return self._static_head.create_estimator_spec(
            flat_features, mode, flat_logits, flat_labels, optimizer, train_op_fn, regularization_losses
        )
