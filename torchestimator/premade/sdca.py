"""``LinearSDCA``: stochastic dual coordinate ascent for ``LinearClassifier`` / ``LinearRegressor``
(``tf.estimator.experimental.LinearSDCA``).

Passed as the ``optimizer`` of a linear estimator, it replaces the gradient step: each training
step runs one pass of proximal SDCA over the batch's examples (logistic loss for a binary
classifier, squared loss for a regressor), keyed by ``example_id_column`` so every example keeps
its dual variable across batches and epochs. The solution is the minimiser of::

    Σ_i w_i · loss(x_i · β, y_i)  +  symmetric_l2 / 2 · ||β||²  +  symmetric_l1 · ||β||₁

(bias included in β, as in TF). TF's requirements are checked when the estimator is built:
``sparse_combiner='sum'``, a binary (n_classes=2) classifier or a one-dimensional regressor;
and when it trains: labels of 0/1 (classifier) and the example-id feature present.

Differences from TF, all documented: TF visits a batch's examples in an order drawn from
``std::random_device``, so two TF runs never agree step for step; here the order comes from
torch's generator (``RunConfig(tf_random_seed=...)`` makes runs repeatable). Both converge to the
same optimum (the tests compare with TF after TF's number of epochs, and step by step on one-example
batches, where TF has no order to draw). ``adaptive=True`` follows TF's adaptive sampler (draws from torch's
generator here, from ``std::random_device`` in TF); ``num_table_shards`` has no effect (one in-process table), and
training runs in one process (TF's multi-worker SDCA over parameter servers is not supported).
Categorical ids whose weight is <= 0 are dropped (as the linear model's lookup drops them) where TF's
SDCA would still train on them.

Example:
    >>> import numpy as np
    >>> from torchestimator import LinearClassifier, feature_column as fc
    >>> x = np.array([-2.0, -1.0, 1.0, 2.0], np.float32)
    >>> features = {"x": x, "id": np.array(["a", "b", "c", "d"])}
    >>> est = LinearClassifier([fc.numeric_column("x")], optimizer=LinearSDCA("id"))
    >>> _ = est.train(lambda: (features, np.array([0, 0, 1, 1])), steps=30)
    >>> [int(p["class_ids"][0]) for p in est.predict(lambda: features)]
    [0, 0, 1, 1]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from torchestimator.errors import FeatureError, InvalidArgumentError
from torchestimator.heads import BinaryClassHead, MultiClassHead, RegressionHead
from torchestimator.heads.base import Head
from torchestimator.premade._sdca_kernel import convert_labels
from torchestimator.premade._sdca_optimizer import SDCAOptimizer, StagedBatch, dedup_sparse, example_keys
from torchestimator.spec import EstimatorSpec, ModeKeys

__all__ = ["LinearSDCA", "SDCAOptimizer"]

logger = logging.getLogger("torchestimator")


class LinearSDCA:
    """SDCA helper for linear estimators (tf.estimator.experimental.LinearSDCA).

    Args:
        example_id_column: the feature key holding one unique string id per example.
        num_loss_partitions: number of concurrent workers (CoCoA+'s sigma'); 1 on one machine.
        num_table_shards: accepted for TF compatibility; has no effect here.
        symmetric_l1_regularization: l1 strength, >= 0 (soft-thresholds the weights by l1 / l2).
        symmetric_l2_regularization: l2 strength, > 0 (typically > 1).
        adaptive: visit each batch's examples by TF's adaptive importance sampling (examples far
            from their optimal dual more often) instead of a random permutation.

    Raises:
        InvalidArgumentError: a missing id column, l2 <= 0, l1 < 0, or num_loss_partitions < 1.
    """

    def __init__(
        self,
        example_id_column: str,
        num_loss_partitions: int = 1,
        num_table_shards: int | None = None,
        symmetric_l1_regularization: float = 0.0,
        symmetric_l2_regularization: float = 1.0,
        adaptive: bool = False,
    ) -> None:
        if not isinstance(example_id_column, str) or not example_id_column:
            raise InvalidArgumentError(
                f"LinearSDCA: example_id_column must be the name of the example-id feature; received "
                f"{example_id_column!r}."
            )
        if (
            isinstance(num_loss_partitions, bool)
            or not isinstance(num_loss_partitions, int)
            or num_loss_partitions < 1
        ):
            raise InvalidArgumentError(
                f"LinearSDCA: num_loss_partitions must be an int >= 1; received {num_loss_partitions!r}."
            )
        if not float(symmetric_l2_regularization) > 0.0:
            raise InvalidArgumentError(
                "LinearSDCA: symmetric_l2_regularization should be positive; received "
                f"{symmetric_l2_regularization!r}."
            )
        if not float(symmetric_l1_regularization) >= 0.0:
            raise InvalidArgumentError(
                "LinearSDCA: symmetric_l1_regularization should be non-negative; received "
                f"{symmetric_l1_regularization!r}."
            )
        if float(symmetric_l2_regularization) <= 1.0:
            logger.warning(
                "symmetric_l2_regularization for SDCA should typically be larger than for online optimization "
                "methods. Recommended value is of the order of the average L2 norm of the training examples."
            )
        self.example_id_column = example_id_column
        self.num_loss_partitions = num_loss_partitions
        self.num_table_shards = num_table_shards
        self.symmetric_l1_regularization = float(symmetric_l1_regularization)
        self.symmetric_l2_regularization = float(symmetric_l2_regularization)
        self.adaptive = bool(adaptive)

    def __repr__(self) -> str:
        return (
            f"LinearSDCA(example_id_column={self.example_id_column!r}, num_loss_partitions="
            f"{self.num_loss_partitions}, symmetric_l1_regularization={self.symmetric_l1_regularization}, "
            f"symmetric_l2_regularization={self.symmetric_l2_regularization})"
        )

    # -- what the linear model_fn calls ------------------------------------------------------------
    def loss_type(self, head: Head, sparse_combiner: str, owner: str) -> str:
        """The SDCA loss for ``head`` after checking TF's requirements.

        Raises:
            InvalidArgumentError: ``sparse_combiner`` other than 'sum', a multi-class head, a
                multi-dimensional regression, or another kind of head.
        """
        if sparse_combiner != "sum":
            raise InvalidArgumentError(
                f'{owner}: sparse_combiner must be "sum" when optimizer is a LinearSDCA object; received '
                f"{sparse_combiner!r}."
            )
        if isinstance(head, BinaryClassHead):
            return "logistic_loss"
        if isinstance(head, RegressionHead) and type(head) is RegressionHead:
            if head.logits_dimension != 1:
                raise InvalidArgumentError(
                    f"{owner}: LinearSDCA can only be used with one-dimensional label; received label_dimension="
                    f"{head.logits_dimension}."
                )
            return "squared_loss"
        if isinstance(head, MultiClassHead):
            raise InvalidArgumentError(
                f"{owner}: LinearSDCA cannot be used in a multi-class setting (n_classes must be 2); received "
                f"{type(head).__name__} with {head.logits_dimension} classes."
            )
        raise InvalidArgumentError(
            f"{owner}: LinearSDCA supports a BinaryClassHead (logistic loss) or a one-dimensional "
            f"RegressionHead (squared loss); received {type(head).__name__}."
        )

    def build_optimizer(self, linear_model: Any, loss_type: str) -> SDCAOptimizer:
        """The :class:`SDCAOptimizer` over ``linear_model``'s weights.

        Raises:
            InvalidArgumentError: training in more than one process (not supported).
        """
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            raise InvalidArgumentError(
                "LinearSDCA trains in one process only (its per-example duals live in that process); this job "
                f"has {dist.get_world_size()} processes. Train it without torchrun, or use a gradient optimizer "
                "('Ftrl') for distributed training."
            )
        parts = [
            (
                "sparse",
                linear_model.sparse_weights.weight if linear_model.sparse_weights is not None else None,
            ),
            ("dense", linear_model.dense_kernel),
            ("bias", linear_model.bias),
        ]
        present = [(role, p) for role, p in parts if p is not None]
        return SDCAOptimizer(
            [p for _, p in present],
            [role for role, _ in present],
            loss_type,
            self.symmetric_l1_regularization,
            self.symmetric_l2_regularization,
            self.num_loss_partitions,
            adaptive=self.adaptive,
        )

    def staged_batch(
        self,
        linear_model: Any,
        head: Head,
        features: Mapping[str, Any],
        labels: Any,
        logits: torch.Tensor,
        loss_type: str,
    ) -> StagedBatch:
        """The batch in SDCA's host layout: deduplicated sparse entries, dense rows, labels and weights.

        Raises:
            FeatureError: the example-id feature is missing or has the wrong length.
            InvalidArgumentError: a logistic label other than 0 / 1.
        """
        if self.example_id_column not in features:
            raise FeatureError(
                f"LinearSDCA: the features have no {self.example_id_column!r} (example_id_column); the input_fn "
                f"must yield one string id per example under that key. Feature keys: {sorted(map(str, features))}."
            )
        batch_size = logits.shape[0]
        keys = example_keys(features[self.example_id_column], self.example_id_column)
        if len(keys) != batch_size:
            raise FeatureError(
                f"LinearSDCA: example_id_column {self.example_id_column!r} has {len(keys)} ids for a batch of "
                f"{batch_size} examples."
            )
        t = linear_model._inputs(features)
        rows = np.zeros(0, np.int64)
        examples = np.zeros(0, np.int64)
        values = np.zeros(0, np.float64)
        if linear_model.sparse_weights is not None:
            p = linear_model.key_prefix
            ids = t[f"{p}/ids"].detach().cpu().numpy().astype(np.int64)
            offsets = t[f"{p}/offsets"].detach().cpu().numpy().astype(np.int64)
            weights = t.get(f"{p}/weights")
            bag = np.searchsorted(offsets, np.arange(len(ids)), side="right") - 1  # (n,) column-major bags
            examples = bag % batch_size
            values = (
                np.ones(len(ids)) if weights is None else weights.detach().cpu().numpy().astype(np.float64)
            )
            rows, examples, values = dedup_sparse(
                ids, examples, values, linear_model.sparse_weights.num_embeddings
            )
        if linear_model.dense_features is not None:
            dense = linear_model.dense_features(t).detach().cpu().double().numpy()  # (B, D)
        else:
            dense = np.zeros((batch_size, 0))
        processed = head._processed_labels(logits, labels).detach().cpu().double().numpy().reshape(-1)
        weights_t = head._weights(features, logits)
        example_weights = (
            np.ones(batch_size)
            if weights_t is None
            else weights_t.detach().cpu().double().numpy().reshape(-1)
        )
        return StagedBatch(
            keys, rows, examples, values, dense, convert_labels(processed, loss_type), example_weights
        )

    def train_spec(self, model: Any, features: Mapping[str, Any], labels: Any) -> EstimatorSpec:
        """The TRAIN :class:`EstimatorSpec` of a linear model_fn trained by SDCA.

        The logits (for the reported loss) come from the weights before the step, as in TF; the batch
        is staged on the :class:`SDCAOptimizer`, which the loop steps. The loss is returned as a leaf
        tensor, so the loop's ``backward()`` costs nothing: SDCA needs no gradients.

        Raises:
            InvalidArgumentError: no labels.
        """
        if labels is None:
            raise InvalidArgumentError(
                f"{type(model).__name__}: mode 'train' needs labels; the input_fn must yield (features, labels)."
            )
        with torch.no_grad():
            logits = model.logits(features, ModeKeys.TRAIN)  # (B, 1)
        optimizer = model.train_op()
        spec = model.head.create_estimator_spec(
            features=features, mode=ModeKeys.TRAIN, logits=logits, labels=labels, optimizer=optimizer
        )
        batch = self.staged_batch(model.linear_model, model.head, features, labels, logits, model.sdca_loss)
        optimizer.stage(batch)
        return spec.replace(loss=spec.loss_tensor.detach().requires_grad_())
