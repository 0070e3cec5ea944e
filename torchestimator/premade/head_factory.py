"""The heads the pre-made Classifier / Regressor constructors build (TF ``head/head_utils.py``).

``n_classes == 2`` gives a :class:`~torchestimator.heads.BinaryClassHead`, ``n_classes > 2`` a
:class:`~torchestimator.heads.MultiClassHead`; regressors get a
:class:`~torchestimator.heads.RegressionHead` with ``label_dimension`` outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torchestimator.errors import InvalidArgumentError
from torchestimator.heads import BinaryClassHead, LossReduction, MultiClassHead, RegressionHead
from torchestimator.heads.base import Head

__all__ = ["classification_head", "regression_head"]


def _check_loss_reduction(loss_reduction: str, owner: str) -> None:
    allowed = (LossReduction.SUM_OVER_BATCH_SIZE, LossReduction.SUM)
    if loss_reduction not in allowed:
        raise InvalidArgumentError(
            f"{owner}: loss_reduction must be one of {list(allowed)}; received {loss_reduction!r}."
        )


def classification_head(
    n_classes: Any,
    weight_column: Any,
    label_vocabulary: Sequence[str] | None,
    loss_reduction: str,
    owner: str,
) -> Head:
    """Binary head for 2 classes, multi-class head for more.

    Raises:
        InvalidArgumentError: ``n_classes`` is not an int > 1, or a bad ``loss_reduction``.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise InvalidArgumentError(
            f"{owner}: n_classes must be an int > 1 (2 for binary classification); received {n_classes!r}."
        )
    _check_loss_reduction(loss_reduction, owner)
    if n_classes == 2:
        return BinaryClassHead(
            weight_column=weight_column, label_vocabulary=label_vocabulary, loss_reduction=loss_reduction
        )
    return MultiClassHead(
        n_classes,
        weight_column=weight_column,
        label_vocabulary=label_vocabulary,
        loss_reduction=loss_reduction,
    )


def regression_head(label_dimension: Any, weight_column: Any, loss_reduction: str, owner: str) -> Head:
    """A squared-error head with ``label_dimension`` outputs.

    Raises:
        InvalidArgumentError: ``label_dimension`` is not an int >= 1, or a bad ``loss_reduction``.
    """
    if isinstance(label_dimension, bool) or not isinstance(label_dimension, int) or label_dimension < 1:
        raise InvalidArgumentError(
            f"{owner}: label_dimension must be an int >= 1; received {label_dimension!r}."
        )
    _check_loss_reduction(loss_reduction, owner)
    return RegressionHead(
        label_dimension=label_dimension, weight_column=weight_column, loss_reduction=loss_reduction
    )
