"""``KMeans``: k-means clustering as an Estimator (``tf.compat.v1.estimator.experimental.KMeans``).

``train(input_fn)`` (the input_fn yields features only: an array of points, or a dict whose sorted
keys' values are concatenated, or whatever ``feature_columns`` read) first chooses the initial
centres from as many batches as it needs (TF's init op reads those batches without counting a
step), then runs one k-means step per batch: a full-batch Lloyd iteration (``use_mini_batch=False``;
each batch must then be the whole data set) or a mini-batch update. ``cluster_centers()`` reads the
centres from the latest checkpoint; ``predict_cluster_index``, ``score`` (the sum of the distances
of the *first* batch's points to their nearest centre) and ``transform`` (distances to every centre;
Euclidean, i.e. the square root, for the squared-Euclidean metric) mirror TF. Prediction keys:
``cluster_index``, ``all_distances``; eval metric: ``score``. See
:mod:`torchestimator.premade._kmeans_model` for the update rules and the one place TF is racy.

Example:
    >>> import numpy as np
    >>> points = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]], np.float32)
    >>> km = KMeans(2, initial_clusters=points[[0, 2]], use_mini_batch=False)
    >>> _ = km.train(lambda: points, steps=2)
    >>> km.cluster_centers().astype(np.float64).round(2).tolist()
    [[0.05, 0.0], [5.05, 5.0]]
    >>> list(km.predict_cluster_index(lambda: points))
    [0, 0, 1, 1]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import numpy as np

from torchestimator.estimator import Estimator
from torchestimator.hooks.base import CheckpointSaverListener, Hook
from torchestimator.input_fn import Batch, call_input_fn
from torchestimator.premade._kmeans_init import KMEANS_PLUS_PLUS_INIT, RANDOM_INIT
from torchestimator.premade._kmeans_model import COSINE_DISTANCE, SQUARED_EUCLIDEAN_DISTANCE, KMeansModelFn
from torchestimator.run_config import RunConfig

__all__ = ["KMeans", "KMeansModelFn"]


class KMeans(Estimator):
    """An Estimator for k-means clustering (TF's ``KMeansClustering``).

    Args:
        num_clusters: number of centres (ignored when ``initial_clusters`` is an array).
        model_dir: where checkpoints and summaries go.
        initial_clusters: ``KMeans.RANDOM_INIT``, ``KMeans.KMEANS_PLUS_PLUS_INIT``, a ``(K, D)``
            array / tensor of centres, or a callable ``f(inputs, k)`` returning up to ``k`` centres.
        distance_metric: ``KMeans.SQUARED_EUCLIDEAN_DISTANCE`` or ``KMeans.COSINE_DISTANCE``.
        seed: seed of the initialisation's random draws.
        use_mini_batch: mini-batch k-means (True) or full-batch Lloyd iterations.
        mini_batch_steps_per_iteration: steps between copies of the updated centres into the ones
            used for assignment.
        kmeans_plus_plus_num_retries: extra draws per k-means++ centre (negative: ``2 + log(k)``).
        relative_tolerance: stop training once the loss changes by less than this (relative).
        config: a :class:`~torchestimator.RunConfig`.
        feature_columns: dense columns to read the points with (default: every feature).

    Raises:
        InvalidArgumentError: an unknown initialisation or distance metric, or bad counts.
    """

    SQUARED_EUCLIDEAN_DISTANCE = SQUARED_EUCLIDEAN_DISTANCE
    COSINE_DISTANCE = COSINE_DISTANCE
    RANDOM_INIT = RANDOM_INIT
    KMEANS_PLUS_PLUS_INIT = KMEANS_PLUS_PLUS_INIT
    SCORE = "score"
    CLUSTER_INDEX = "cluster_index"
    ALL_DISTANCES = "all_distances"
    CLUSTER_CENTERS_VAR_NAME = "clusters"

    def __init__(
        self,
        num_clusters: int,
        model_dir: str | os.PathLike[str] | None = None,
        initial_clusters: Any = RANDOM_INIT,
        distance_metric: str = SQUARED_EUCLIDEAN_DISTANCE,
        seed: int | None = None,
        use_mini_batch: bool = True,
        mini_batch_steps_per_iteration: int = 1,
        kmeans_plus_plus_num_retries: int = 2,
        relative_tolerance: float | None = None,
        config: RunConfig | None = None,
        feature_columns: Sequence[Any] | None = None,
    ) -> None:
        self._distance_metric = distance_metric

        def build() -> KMeansModelFn:
            return KMeansModelFn(
                num_clusters,
                initial_clusters,
                distance_metric,
                seed,
                use_mini_batch,
                mini_batch_steps_per_iteration,
                kmeans_plus_plus_num_retries,
                relative_tolerance,
                feature_columns,
            )

        super().__init__(build, model_dir=model_dir, config=config)
        # the centres' shape is known only from data: size them from a checkpoint before it is loaded
        self.runtime.prepare_state = cast(KMeansModelFn, self.model).match_checkpoint_shapes

    def train(
        self,
        input_fn: Callable[..., Any],
        hooks: Sequence[Hook] | None = None,
        steps: int | None = None,
        max_steps: int | None = None,
        saving_listeners: Sequence[CheckpointSaverListener] | None = None,
    ) -> KMeans:
        """Choose the initial centres from the first batches if needed, then one k-means step per batch."""
        super().train(self._initializing(input_fn), hooks, steps, max_steps, saving_listeners)
        return self

    def _initializing(self, input_fn: Callable[..., Any]) -> Callable[..., Iterator[Batch]]:
        module = cast(KMeansModelFn, self.model)

        def initialize_then_train(
            mode: str, params: Any = None, config: Any = None, input_context: Any = None
        ) -> Iterator[Batch]:
            batches = call_input_fn(input_fn, mode, params=params, config=config, input_context=input_context)
            while not module.is_initialized:  # TF's _InitializeClustersHook: the init op reads batches
                batch = next(batches, None)
                if batch is None:
                    return
                module.initialize(batch[0])
            yield from batches

        return initialize_then_train

    def _predict_one_key(self, input_fn: Callable[..., Any], key: str) -> Iterator[Any]:
        for result in self.predict(input_fn, predict_keys=[key]):
            yield result[key]

    def predict_cluster_index(self, input_fn: Callable[..., Any]) -> Iterator[int]:
        """The index of the nearest centre of each input point."""
        for index in self._predict_one_key(input_fn, self.CLUSTER_INDEX):
            yield int(index)

    def score(self, input_fn: Callable[..., Any]) -> float:
        """The sum of the distances from each point of the *first* batch to its nearest centre."""
        return float(self.evaluate(input_fn, steps=1)[self.SCORE])

    def transform(self, input_fn: Callable[..., Any]) -> Iterator[np.ndarray]:
        """Distances from each point to every centre (Euclidean, not squared, for that metric; cosine as is)."""
        for distances in self._predict_one_key(input_fn, self.ALL_DISTANCES):
            values = np.asarray(distances)
            yield np.sqrt(values) if self._distance_metric == SQUARED_EUCLIDEAN_DISTANCE else values

    def cluster_centers(self) -> np.ndarray:
        """The centres ``(K, D)`` in the latest checkpoint."""
        return self.get_variable_value(self.CLUSTER_CENTERS_VAR_NAME)
