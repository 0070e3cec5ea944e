"""``RNNClassifier`` / ``RNNEstimator`` (TF ``tf.estimator.experimental``, ``canned/rnn.py``).

The model::

    sequence features ─► SequenceFeatures ─► (B, T, Ds), lengths (B,)
    context features  ─► DenseFeatures    ─► (B, Dc) ─► repeated on every step ─► (B, T, Ds + Dc)
                      ─► RecurrentStack (masked by the lengths)  ─► (B, U) last step, or (B, T, U)
                      ─► Dense(logits_dimension)                  ─► logits ─► head

TF's defaults: a string optimizer gets learning rate 0.05 and Keras ``clipnorm=5.0`` (each
variable's gradient clipped to norm 5, see :func:`clip_by_norm_per_variable`); an optimizer class,
instance or callable is used as given. ``return_sequences=True`` wraps the classifier's head in
:class:`~torchestimator.heads.sequential.SequentialHeadWrapper` (per-step labels, loss and metrics
over the valid steps) and adds the ``(B, T)`` sequence mask to the predictions under
``sequence_mask``.

Example:
    >>> import numpy as np
    >>> from torchestimator import feature_column as fc
    >>> est = RNNClassifier([fc.sequence_numeric_column("x")], units=[4], cell_type="lstm")
    >>> x = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]], np.float32)
    >>> _ = est.train(lambda: ({"x": x}, np.array([0, 1])), steps=2)
    >>> sorted(next(iter(est.predict(lambda: {"x": x}))))
    ['all_class_ids', 'all_classes', 'class_ids', 'classes', 'logistic', 'logits', 'probabilities']
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from torchestimator.columns import DenseFeatures
from torchestimator.columns.embedding import IndicatorColumn
from torchestimator.columns.sequence import SequenceFeatures, SequenceNumericColumn
from torchestimator.errors import InvalidArgumentError
from torchestimator.estimator import Estimator
from torchestimator.heads import LossReduction
from torchestimator.heads.base import Head
from torchestimator.heads.sequential import SequentialHeadWrapper
from torchestimator.premade._rnn_layers import (
    ClipUnit,
    RecurrentStack,
    check_units,
    clip_by_norm_per_variable,
)
from torchestimator.premade.head_factory import classification_head
from torchestimator.premade.model_base import (
    OptimizerPlan,
    PremadeModel,
    check_feature_columns,
    check_head,
    check_optimizer_spec,
    trainable,
)
from torchestimator.run_config import RunConfig
from torchestimator.spec import EstimatorSpec, ModeKeys

__all__ = ["DEFAULT_CLIP_NORM", "DEFAULT_LEARNING_RATE", "RNNClassifier", "RNNEstimator", "RNNModelFn"]

DEFAULT_LEARNING_RATE = 0.05
DEFAULT_CLIP_NORM = 5.0


def _glorot_dense(in_features: int, out_features: int) -> nn.Linear:
    layer = nn.Linear(in_features, out_features)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def _step_width(column: Any) -> int:
    """Width of one step of a sequence column in ``SequenceFeatures``' output."""
    if isinstance(column, SequenceNumericColumn):
        return column.step_width
    if isinstance(column, IndicatorColumn):
        return int(column.categorical_column.num_buckets)
    return int(column.dimension)


def _rnn_layers(
    rnn_cell_fn: Callable[[], Any] | None, units: Any, cell_type: str | None, owner: str
) -> tuple[list[int], str, list[nn.Module] | None]:
    if rnn_cell_fn is not None:
        if units or cell_type is not None:
            raise InvalidArgumentError(
                f"{owner}: units and cell_type must not be specified when using rnn_cell_fn."
            )
        if not callable(rnn_cell_fn):
            raise InvalidArgumentError(f"{owner}: rnn_cell_fn must be callable; received {rnn_cell_fn!r}.")
        made = rnn_cell_fn()
        return [], "", list(made) if isinstance(made, (list, tuple)) else [made]
    return check_units(units, owner), cell_type or "simple_rnn", None


class RNNModelFn(PremadeModel):
    """The RNN model_fn module (see the module docstring).

    Args:
        head: the head (a :class:`SequentialHeadWrapper` when ``return_sequences``).
        sequence_feature_columns: sequence columns (``sequence_numeric_column``, embedding / indicator
            columns over ``sequence_categorical_column_*``).
        context_feature_columns: dense columns repeated on every step, or None.
        units: hidden units per layer (an int or a list).
        cell_type: ``'simple_rnn'`` (default), ``'lstm'`` or ``'gru'``.
        rnn_cell_fn: instead of ``units`` / ``cell_type``: returns torch ``nn.RNN`` / ``nn.LSTM`` /
            ``nn.GRU`` modules (``batch_first=True``, one layer each; a list stacks them).
        return_sequences: logits for every step ``(B, T, d)`` instead of the last ``(B, d)``.
        optimizer: a name (learning rate 0.05, clipnorm 5.0), an optimizer class, instance or callable.

    Raises:
        InvalidArgumentError: bad arguments (named in the message).
    """

    def __init__(
        self,
        head: Head,
        sequence_feature_columns: Sequence[Any],
        context_feature_columns: Sequence[Any] | None = None,
        units: Any = None,
        cell_type: str | None = None,
        rnn_cell_fn: Callable[[], Any] | None = None,
        return_sequences: bool = False,
        optimizer: Any = "Adagrad",
    ) -> None:
        super().__init__(head)
        owner = type(self).__name__
        if return_sequences and not isinstance(self.head, SequentialHeadWrapper):
            raise InvalidArgumentError(
                f"{owner}: the head must be a SequentialHeadWrapper when return_sequences is True."
            )
        self.optimizer_spec = check_optimizer_spec(optimizer, owner)
        self.return_sequences = bool(return_sequences)
        self.sequence_input = SequenceFeatures(
            check_feature_columns(sequence_feature_columns, owner, "sequence_feature_columns")
        )
        self.context_input = (
            DenseFeatures(check_feature_columns(context_feature_columns, owner, "context_feature_columns"))
            if context_feature_columns
            else None
        )
        width = sum(_step_width(c) for c in self.sequence_input.feature_columns)
        if self.context_input is not None:
            width += self.context_input.output_dim
        layer_units, kind, layers = _rnn_layers(rnn_cell_fn, units, cell_type, owner)
        self.rnn = RecurrentStack(width, layer_units, kind, layers)
        self.logits_layer = _glorot_dense(self.rnn.output_size, self.head.logits_dimension)

    def sequence_logits(
        self, features: Mapping[str, Any], mode: str = ModeKeys.PREDICT
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(B, d)`` (or ``(B, T, d)``) and the ``(B, T)`` boolean sequence mask."""
        del mode
        seq, lengths = self.sequence_input(features)  # (B, T, Ds), (B,)
        if self.context_input is not None:
            context = self.context_input(features)  # (B, Dc)
            context = context.unsqueeze(1).expand(context.shape[0], seq.shape[1], context.shape[1])
            seq = torch.cat([seq, context.to(seq.dtype)], dim=-1)  # (B, T, Ds + Dc), as TF's concat
        outputs = self.rnn(seq, lengths, self.return_sequences)  # (B, U) or (B, T, U)
        steps = torch.arange(seq.shape[1], device=seq.device)
        mask = steps.unsqueeze(0) < lengths.to(seq.device).unsqueeze(1)  # (B, T)
        return self.logits_layer(outputs), mask

    def logits(self, features: Mapping[str, Any], mode: str = ModeKeys.PREDICT) -> torch.Tensor:
        """``(B, logits_dimension)``, or ``(B, T, logits_dimension)`` with ``return_sequences``."""
        return self.sequence_logits(features, mode)[0]

    def forward(
        self, features: Mapping[str, Any], labels: Any = None, mode: str = ModeKeys.PREDICT
    ) -> EstimatorSpec:
        """The :class:`EstimatorSpec` for ``mode``; the sequence mask joins the features (as TF's)."""
        if not self.return_sequences:
            return super().forward(features, labels, mode)
        ModeKeys.validate(mode)
        if mode != ModeKeys.PREDICT and labels is None:
            raise InvalidArgumentError(
                f"{type(self).__name__}: mode {mode!r} needs labels; the input_fn must yield (features, labels)."
            )
        logits, mask = self.sequence_logits(features, mode)
        head = self.head
        assert isinstance(head, SequentialHeadWrapper)
        if head.input_sequence_mask_key not in features:
            features = {**features, head.input_sequence_mask_key: mask}
        return head.create_estimator_spec(
            features=features,
            mode=mode,
            logits=logits,
            labels=labels,
            optimizer=self._train_op() if mode == ModeKeys.TRAIN else None,
        )

    def _optimizer_plan(self) -> list[OptimizerPlan]:
        params = trainable(self.sequence_input)
        if self.context_input is not None:
            params += trainable(self.context_input)
        params += trainable(self.rnn) + trainable(self.logits_layer)
        return [("optimizer", params, self.optimizer_spec, DEFAULT_LEARNING_RATE)]

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """As the base class; a named optimizer also clips each variable's gradient to norm 5 (TF's)."""
        fresh = self._optimizers is None
        built = super().optimizers()
        if fresh and isinstance(self.optimizer_spec, str):
            units = self.clip_units()
            built["optimizer"].register_step_pre_hook(
                lambda _opt, _args, _kwargs: clip_by_norm_per_variable(units, DEFAULT_CLIP_NORM)
            )
        return built

    def clip_units(self) -> list[ClipUnit]:
        """The trainable parameters grouped as TF's variables (one clip norm per variable)."""
        units: list[ClipUnit] = [[(p, None)] for p in trainable(self.sequence_input)]
        if self.context_input is not None:
            layout = self.context_input.layout()
            for group_key, bag in self.context_input.embedding_tables.items():
                if not bag.weight.requires_grad:
                    continue
                weight = bag.weight
                assert isinstance(weight, torch.Tensor)
                units += [[(weight, (s.start, s.stop))] for s in layout.fused_table(group_key).spans]
            seen = {id(u[0][0]) for u in units}
            units += [[(p, None)] for p in trainable(self.context_input) if id(p) not in seen]
        units += self.rnn.clip_units()
        units += [[(self.logits_layer.weight, None)], [(self.logits_layer.bias, None)]]
        return units


def _model_factory(
    head: Head,
    sequence_feature_columns: Sequence[Any],
    context_feature_columns: Sequence[Any] | None,
    units: Any,
    cell_type: str | None,
    rnn_cell_fn: Callable[[], Any] | None,
    return_sequences: bool,
    optimizer: Any,
) -> Callable[[], RNNModelFn]:
    owner = "RNNEstimator"
    if rnn_cell_fn is not None and (units or cell_type is not None):
        raise InvalidArgumentError(
            f"{owner}: units and cell_type must not be specified when using rnn_cell_fn."
        )
    if rnn_cell_fn is None:
        check_units(units, owner)
    check_feature_columns(sequence_feature_columns, owner, "sequence_feature_columns")
    check_optimizer_spec(optimizer, owner)
    return lambda: RNNModelFn(
        head,
        sequence_feature_columns,
        context_feature_columns,
        units,
        cell_type,
        rnn_cell_fn,
        return_sequences,
        optimizer,
    )


class RNNEstimator(Estimator):
    """An RNN over sequence columns with any head (tf.estimator.experimental.RNNEstimator).

    Args:
        head: a :class:`~torchestimator.heads.Head` (a :class:`SequentialHeadWrapper` when
            ``return_sequences``).
        sequence_feature_columns: sequence columns.
        context_feature_columns: dense columns repeated on every step.
        units: hidden units per RNN layer (an int or a list); with ``cell_type``.
        cell_type: ``'simple_rnn'`` (default), ``'lstm'`` or ``'gru'``.
        rnn_cell_fn: instead of ``units`` / ``cell_type``, returns torch RNN modules (see :class:`RNNModelFn`).
        return_sequences: per-step logits.
        model_dir: where checkpoints and summaries go.
        optimizer: a name (learning rate 0.05, clipnorm 5.0; default 'Adagrad'), a class, instance or callable.
        config: a :class:`~torchestimator.RunConfig`.

    Raises:
        InvalidArgumentError: bad arguments.
    """

    def __init__(
        self,
        head: Head,
        sequence_feature_columns: Sequence[Any],
        context_feature_columns: Sequence[Any] | None = None,
        units: Any = None,
        cell_type: str | None = None,
        rnn_cell_fn: Callable[[], Any] | None = None,
        return_sequences: bool = False,
        model_dir: str | os.PathLike[str] | None = None,
        optimizer: Any = "Adagrad",
        config: RunConfig | None = None,
    ) -> None:
        check_head(head, type(self).__name__)
        if return_sequences and not isinstance(head, SequentialHeadWrapper):
            raise InvalidArgumentError(
                "Provided head must be a `SequentialHeadWrapper` object when `return_sequences` is set to True."
            )
        factory = _model_factory(
            head,
            sequence_feature_columns,
            context_feature_columns,
            units,
            cell_type,
            rnn_cell_fn,
            return_sequences,
            optimizer,
        )
        super().__init__(factory, model_dir=model_dir, config=config)


class RNNClassifier(RNNEstimator):
    """An RNN classifier over sequence columns (tf.estimator.experimental.RNNClassifier).

    Args:
        sequence_feature_columns: sequence columns.
        context_feature_columns: dense columns repeated on every step.
        units: hidden units per RNN layer (an int or a list).
        cell_type: ``'simple_rnn'`` (default), ``'lstm'`` or ``'gru'``.
        rnn_cell_fn: instead of ``units`` / ``cell_type``, returns torch RNN modules.
        return_sequences: classify every step (labels ``(B, T)``; ``weight_column`` a key).
        model_dir: where checkpoints and summaries go.
        n_classes: number of classes (> 1).
        weight_column: a feature key or ``numeric_column`` weighting each example's (step's) loss.
        label_vocabulary: the class names when labels are strings.
        optimizer: see :class:`RNNEstimator`.
        loss_reduction: ``SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.
        sequence_mask: the features / predictions key of the sequence mask (``return_sequences``).
        config: a :class:`~torchestimator.RunConfig`.

    Raises:
        InvalidArgumentError: bad arguments.
    """

    def __init__(
        self,
        sequence_feature_columns: Sequence[Any],
        context_feature_columns: Sequence[Any] | None = None,
        units: Any = None,
        cell_type: str | None = None,
        rnn_cell_fn: Callable[[], Any] | None = None,
        return_sequences: bool = False,
        model_dir: str | os.PathLike[str] | None = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: Sequence[str] | None = None,
        optimizer: Any = "Adagrad",
        loss_reduction: str = LossReduction.SUM_OVER_BATCH_SIZE,
        sequence_mask: str = "sequence_mask",
        config: RunConfig | None = None,
    ) -> None:
        head = classification_head(
            n_classes, weight_column, label_vocabulary, loss_reduction, "RNNClassifier"
        )
        if return_sequences:
            head = SequentialHeadWrapper(
                head, sequence_length_mask=sequence_mask, feature_columns=weight_column
            )
        super().__init__(
            head,
            sequence_feature_columns,
            context_feature_columns,
            units,
            cell_type,
            rnn_cell_fn,
            return_sequences,
            model_dir,
            optimizer,
            config,
        )
