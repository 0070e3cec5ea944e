"""``KMeansModelFn``: the k-means model_fn module (TF's ``clustering_ops.KMeans.training_graph``).

State (buffers, checkpointed like any weight; TF's variable names)::

    clusters          float32 (K, D)   the centres used for assignments and inference
    initialized       bool ()          all K centres chosen
    cluster_counts    int64 (K,)       mini-batch only: points seen per centre (starts at 1 when
                                       mini_batch_steps_per_iteration == 1, at 0 otherwise)
    clusters_updated  float32 (K, D)   mini_batch_steps_per_iteration > 1: the per-step copy, copied
    update_in_steps   int64 ()         into ``clusters`` every S steps (l2-normalised for cosine)

One step (inputs l2-normalised for cosine): each point goes to its nearest centre (TF's
``NearestNeighbors``: argmin of ``|c|²/2 - x·c``, first index on ties; its score is the squared
distance, halved for cosine); the loss is the sum of the scores. Full batch: ``centre = Σ points /
(count + 1e-6)`` (l2-normalised for cosine). Mini-batch, for the centres the batch touches with
``n`` points: ``count += n`` then ``centre += (Σ points - n·centre) / (count + n)``.

Two races in TF's graph, and what this port does:

* TF's mini-batch op gathers ``cluster_counts`` for the learning rate without ordering that read
  against its own ``scatter_add`` of the same step. In TF 2.15 the add usually wins (every step of
  all 5 runs of each squared-Euclidean case of the test fixture; for cosine 2-4 of 5 runs, the others
  mixing both orders step by step), so TF's effective step is ``1 / (count_before + 2n)``, not the
  textbook ``1 / (count_before + n)``. This port reproduces TF's most frequent ordering, so a ported
  job gets the centres TF usually gives.
* With ``mini_batch_steps_per_iteration > 1`` TF does not order the assignment's read of
  ``clusters`` against the copy-back of the same step either (runs differ by up to 0.9 here); the
  assignment here reads ``clusters`` as the step found it, before the copy-back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from torchestimator.errors import InvalidArgumentError
from torchestimator.heads.export_output import PredictOutput
from torchestimator.hooks.base import Hook, RunContext
from torchestimator.metrics.base import Mean
from torchestimator.premade._kmeans_init import KMEANS_PLUS_PLUS_INIT, RANDOM_INIT, choose_centers
from torchestimator.spec import EstimatorSpec, ModeKeys

__all__ = ["COSINE_DISTANCE", "SQUARED_EUCLIDEAN_DISTANCE", "KMeansModelFn", "LossRelativeChangeHook"]

SQUARED_EUCLIDEAN_DISTANCE = "squared_euclidean"
COSINE_DISTANCE = "cosine"
_RESERVED = "__tecol__"


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """TF's ``l2_normalize(x, axis=1)``: ``x / sqrt(max(Σx², 1e-12))``."""
    return x * torch.rsqrt(torch.clamp((x * x).sum(dim=1, keepdim=True), min=1e-12))


class LossRelativeChangeHook(Hook):
    """Stops training when ``|loss - previous| / (1 + |previous|) < tolerance`` (TF's hook)."""

    def __init__(self, tolerance: float) -> None:
        self.tolerance = float(tolerance)
        self._previous: float | None = None

    def after_step(self, ctx: RunContext) -> None:
        if ctx.loss is None:
            return
        loss = float(ctx.loss)
        if self._previous and abs(loss - self._previous) / (1 + abs(self._previous)) < self.tolerance:
            ctx.request_stop()
        self._previous = loss


class KMeansModelFn(nn.Module):
    """K-means as a model_fn module (see the module docstring). Arguments as :class:`~torchestimator.KMeans`.

    Raises:
        InvalidArgumentError: an unknown initialisation or distance, or a bad cluster count.
    """

    clusters: torch.Tensor
    initialized: torch.Tensor
    cluster_counts: torch.Tensor
    clusters_updated: torch.Tensor
    update_in_steps: torch.Tensor

    def __init__(
        self,
        num_clusters: int,
        initial_clusters: Any = RANDOM_INIT,
        distance_metric: str = SQUARED_EUCLIDEAN_DISTANCE,
        seed: int | None = None,
        use_mini_batch: bool = True,
        mini_batch_steps_per_iteration: int = 1,
        kmeans_plus_plus_num_retries: int = 2,
        relative_tolerance: float | None = None,
        feature_columns: Sequence[Any] | None = None,
    ) -> None:
        super().__init__()
        given = _given_centers(initial_clusters)
        self.num_clusters = len(given) if given is not None else _check_num_clusters(num_clusters)
        if distance_metric not in (SQUARED_EUCLIDEAN_DISTANCE, COSINE_DISTANCE):
            raise InvalidArgumentError(
                f"KMeans: unsupported distance_metric {distance_metric!r}; use "
                f"{[SQUARED_EUCLIDEAN_DISTANCE, COSINE_DISTANCE]}."
            )
        self.distance_metric = distance_metric
        self.initial_clusters = initial_clusters if given is None else "given"
        self.use_mini_batch = bool(use_mini_batch)
        self.steps_per_iteration = int(mini_batch_steps_per_iteration)
        if self.steps_per_iteration < 1:
            raise InvalidArgumentError(
                f"KMeans: mini_batch_steps_per_iteration must be >= 1; received {mini_batch_steps_per_iteration!r}."
            )
        self.num_retries = int(kmeans_plus_plus_num_retries)
        self.relative_tolerance = relative_tolerance
        seed = int(seed) if seed is not None else int(torch.randint(0, 2**62, ()))  # from the global stream
        self._generator = torch.Generator().manual_seed(seed)
        self.input_layer: nn.Module | None = None
        if feature_columns:
            from torchestimator.columns import DenseFeatures

            self.input_layer = DenseFeatures(list(feature_columns))
        dim = (
            given.shape[1] if given is not None else (self.input_layer.output_dim if self.input_layer else 0)
        )
        self.register_buffer("clusters", torch.zeros(0, dim))
        self.register_buffer("initialized", torch.tensor(False))
        two_copies = self.use_mini_batch and self.steps_per_iteration > 1
        if self.use_mini_batch:
            start = torch.zeros if two_copies else torch.ones
            self.register_buffer("cluster_counts", start(self.num_clusters, dtype=torch.int64))
        if two_copies:
            self.register_buffer("clusters_updated", torch.zeros(0, dim))
            self.register_buffer("update_in_steps", torch.tensor(self.steps_per_iteration, dtype=torch.int64))
        if given is not None:
            self._add_centers(torch.from_numpy(given))

    # -- state ------------------------------------------------------------------------------------
    @property
    def is_initialized(self) -> bool:
        """Whether all ``num_clusters`` centres have been chosen (read from the shape: export traces it)."""
        return self.clusters.shape[0] == self.num_clusters

    def _two_copies(self) -> bool:
        return self.use_mini_batch and self.steps_per_iteration > 1

    def _clusters_l2_normalized(self) -> bool:
        return self.distance_metric == COSINE_DISTANCE and (
            not self.use_mini_batch or self.steps_per_iteration > 1
        )

    def match_checkpoint_shapes(self, state: Mapping[str, Any]) -> None:
        """Resize the centre buffers to a checkpoint's (their count and dimension are data-dependent)."""
        for name in ("clusters", "clusters_updated"):
            if name in state and hasattr(self, name) and isinstance(state[name], torch.Tensor):
                setattr(self, name, torch.zeros_like(state[name], device=self.initialized.device))

    def _add_centers(self, new: torch.Tensor) -> None:
        new = new.to(self.initialized.device, torch.float32)
        if self.distance_metric == COSINE_DISTANCE:
            new = l2_normalize(new)
        centers = new if len(self.clusters) == 0 else torch.cat([self.clusters, new])
        self.clusters = centers
        if self._two_copies():
            self.clusters_updated = centers.clone()
        if len(centers) == self.num_clusters:
            self.initialized = torch.tensor(True, device=centers.device)

    @torch.no_grad()
    def initialize(self, features: Any) -> None:
        """Choose (more) initial centres from one batch, as TF's init op does on each batch it reads.

        Raises:
            InvalidArgumentError: already initialised, or a batch that cannot give the centres.
        """
        remaining = self.num_clusters - len(self.clusters)
        if remaining <= 0:
            raise InvalidArgumentError("KMeans: the cluster centres are already initialised.")
        points = self.points(features)
        if self.initial_clusters == KMEANS_PLUS_PLUS_INIT and self.distance_metric == COSINE_DISTANCE:
            points = l2_normalize(points)
        self._add_centers(
            choose_centers(self.initial_clusters, points, remaining, self._generator, self.num_retries)
        )

    # -- inputs -----------------------------------------------------------------------------------
    def points(self, features: Any) -> torch.Tensor:
        """The batch's points ``(B, D)`` float32: the columns' dense output, the sorted keys' values
        concatenated, or the features themselves when they are one array.

        Raises:
            InvalidArgumentError: features whose points are not 2-D numbers.
        """
        device = self.initialized.device
        if self.input_layer is not None:
            return self.input_layer(features).to(device, torch.float32)  # (B, D)
        if isinstance(features, Mapping):
            keys = sorted(k for k in features if not str(k).startswith(_RESERVED))
            parts = [_as_matrix(features[k], str(k)) for k in keys]
            if not parts:
                raise InvalidArgumentError("KMeans: the features dict is empty.")
            return torch.cat(parts, dim=1).to(device)  # (B, D)
        return _as_matrix(features, "features").to(device)

    # -- model_fn ---------------------------------------------------------------------------------
    def forward(self, features: Any, labels: Any = None, mode: str = ModeKeys.PREDICT) -> EstimatorSpec:
        """The spec for ``mode``: predictions ``all_distances`` / ``cluster_index``, loss = Σ scores,
        eval metric ``score``, and in TRAIN a train_op running one k-means step.

        Raises:
            InvalidArgumentError: no centres yet, or points of another dimension than the centres.
        """
        ModeKeys.validate(mode)
        if not self.is_initialized:
            raise InvalidArgumentError(
                "KMeans: the cluster centres are not initialised yet; train the estimator first (its train() "
                "chooses them from the first batches) or call model.initialize(features)."
            )
        points = self.points(features)
        if points.shape[1] != self.clusters.shape[1]:
            raise InvalidArgumentError(
                f"KMeans: the points have dimension {points.shape[1]} but the centres {self.clusters.shape[1]}."
            )
        if self.distance_metric == COSINE_DISTANCE:
            points = l2_normalize(points)
        centers = self.clusters
        if self.distance_metric == COSINE_DISTANCE and not self._clusters_l2_normalized():
            centers = l2_normalize(centers)
        all_distances, scores, index = self._infer(points, centers)
        predictions = {"all_distances": all_distances, "cluster_index": index}
        if mode == ModeKeys.PREDICT:
            export_outputs = {  # TF's signatures: one per key, and the index as the default
                "all_distances": PredictOutput(all_distances),
                "cluster_index": PredictOutput(index),
                "serving_default": PredictOutput(index),
            }
            return EstimatorSpec(mode, predictions=predictions, export_outputs=export_outputs)
        loss = scores.sum()
        if mode == ModeKeys.EVAL:
            return EstimatorSpec(
                mode, predictions=predictions, loss=loss, eval_metric_ops={"score": Mean(loss)}
            )
        hooks = (
            [LossRelativeChangeHook(self.relative_tolerance)] if self.relative_tolerance is not None else []
        )
        return EstimatorSpec(
            mode,
            predictions=predictions,
            loss=loss,
            train_op=self._train_op(points, index),
            training_hooks=hooks,
        )

    def _infer(self, points: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, ...]:
        products = points @ centers.T  # (B, K)
        point_norms = (points * points).sum(dim=1, keepdim=True)  # (B, 1)
        center_norms = (centers * centers).sum(dim=1)  # (K,)
        if self.distance_metric == SQUARED_EUCLIDEAN_DISTANCE:
            all_distances = point_norms - 2 * products + center_norms[None, :]
        else:
            all_distances = 1 - products
        partial = 0.5 * center_norms[None, :] - products  # (B, K) TF's NearestNeighbors
        best, index = partial.min(dim=1)
        scores = 2.0 * (0.5 * point_norms[:, 0] + best)
        if self.distance_metric == COSINE_DISTANCE:
            scores = scores * 0.5
        return all_distances, scores, index

    def _train_op(self, points: torch.Tensor, index: torch.Tensor) -> Callable[[torch.Tensor], None]:
        def train_op(loss: torch.Tensor) -> None:
            with torch.no_grad():
                if not self.use_mini_batch:
                    self._full_batch_update(points, index)
                else:
                    self._sync_if_due()
                    self._mini_batch_update(points, index)

        return train_op

    def _full_batch_update(self, points: torch.Tensor, index: torch.Tensor) -> None:
        k = self.num_clusters
        sums = torch.zeros(k, points.shape[1], device=points.device).index_add_(0, index, points)  # (K, D)
        counts = torch.zeros(k, device=points.device).index_add_(
            0, index, torch.ones_like(index, dtype=torch.float32)
        )
        centers = sums / (counts[:, None] + 1e-6)
        self.clusters = l2_normalize(centers) if self._clusters_l2_normalized() else centers

    def _sync_if_due(self) -> None:
        if not self._two_copies():
            return
        if int(self.update_in_steps) <= 0:
            self.update_in_steps.fill_(self.steps_per_iteration - 1)
            copy = self.clusters_updated
            self.clusters = l2_normalize(copy) if self.distance_metric == COSINE_DISTANCE else copy.clone()
            self.cluster_counts.zero_()
        else:
            self.update_in_steps.sub_(1)

    def _mini_batch_update(self, points: torch.Tensor, index: torch.Tensor) -> None:
        target = self.clusters_updated if self._two_copies() else self.clusters
        unique, inverse = torch.unique(index, return_inverse=True)
        n = len(unique)
        count_updates = torch.zeros(n, dtype=torch.int64, device=points.device).index_add_(
            0, inverse, torch.ones_like(inverse)
        )
        sums = torch.zeros(n, points.shape[1], device=points.device).index_add_(0, inverse, points)  # (n, D)
        self.cluster_counts.index_add_(0, unique, count_updates)
        old_counts = self.cluster_counts[unique]  # read after the add, as TF 2.15 does (module docstring)
        updates = sums - count_updates[:, None].to(points.dtype) * target[unique]
        updates = updates * torch.reciprocal((old_counts + count_updates).to(points.dtype))[:, None]
        target.index_add_(0, unique, updates)


def _check_single_process() -> None:
    """KMeans keeps its centres in this process; TF shares them through parameter servers.

    Raises:
        InvalidArgumentError: training in more than one process.
    """
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        raise InvalidArgumentError(
            f"KMeans trains in one process only; this job has {dist.get_world_size()} processes. Train it "
            "without torchrun (or on rank 0 only)."
        )


def _check_num_clusters(num_clusters: Any) -> int:
    if isinstance(num_clusters, bool) or not isinstance(num_clusters, (int, np.integer)) or num_clusters < 1:
        raise InvalidArgumentError(f"KMeans: num_clusters must be an int >= 1; received {num_clusters!r}.")
    return int(num_clusters)


def _given_centers(initial_clusters: Any) -> np.ndarray | None:
    """The centres when ``initial_clusters`` is an array / tensor; None for a name or a callable.

    Raises:
        InvalidArgumentError: an unknown name, or an array that is not (K, D) numbers.
    """
    if isinstance(initial_clusters, str):
        if initial_clusters not in (RANDOM_INIT, KMEANS_PLUS_PLUS_INIT):
            raise InvalidArgumentError(
                f"KMeans: unsupported initialization algorithm {initial_clusters!r}; use "
                f"{[RANDOM_INIT, KMEANS_PLUS_PLUS_INIT]}, an array of centres or a callable f(inputs, k)."
            )
        return None
    if callable(initial_clusters) and not isinstance(initial_clusters, (np.ndarray, torch.Tensor)):
        return None
    if isinstance(initial_clusters, torch.Tensor):
        initial_clusters = initial_clusters.detach().cpu().numpy()
    given = np.asarray(initial_clusters, dtype=np.float32)
    if given.ndim != 2 or given.shape[0] < 1:
        raise InvalidArgumentError(
            f"KMeans: initial_clusters as centres must be a (num_clusters, dimension) array; received shape "
            f"{list(given.shape)}."
        )
    return given


def _as_matrix(value: Any, name: str) -> torch.Tensor:
    if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
        raise InvalidArgumentError(f"KMeans: feature {name!r} must be numeric; received dtype {value.dtype}.")
    t = torch.as_tensor(value).to(torch.float32)
    if t.dim() == 1:
        t = t[:, None]
    if t.dim() != 2:
        raise InvalidArgumentError(
            f"KMeans: feature {name!r} must be (batch, dimension); received {list(t.shape)}."
        )
    return t
