"""How KMeans chooses its initial centres (TF's ``_InitializeClustersOpFactory`` and the
``KmeansPlusPlusInitialization`` kernel of ``clustering_ops``).

``random``: when the batch has no more points than centres still to choose, all of them; else that
many points drawn uniformly *with replacement*. ``kmeans_plus_plus``: the first centre uniform, each
next one drawn with probability proportional to the squared distance to the nearest chosen centre,
keeping the best of ``1 + num_retries`` draws (the one that lowers the total distance most; a
negative ``num_retries`` means ``2 + log(k)``); the batch must hold at least as many points as
centres to choose. A callable ``f(inputs, k)`` returns up to ``k`` centres from ``inputs`` (a list
with the batch's ``(B, D)`` points tensor).

Random draws come from a ``torch.Generator`` seeded with ``seed`` (TF uses its Philox stream, so the
centres drawn differ from TF's; the algorithms are the same).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError

__all__ = ["KMEANS_PLUS_PLUS_INIT", "RANDOM_INIT", "choose_centers", "kmeans_plus_plus", "random_centers"]

RANDOM_INIT = "random"
KMEANS_PLUS_PLUS_INIT = "kmeans_plus_plus"


def random_centers(points: torch.Tensor, num: int, generator: torch.Generator) -> torch.Tensor:
    """``num`` centres from ``points`` (B, D): all of them when ``B <= num``, else drawn with replacement."""
    if len(points) <= num:
        return points.clone()
    index = torch.randint(0, len(points), (num,), generator=generator, device="cpu")
    return points[index.to(points.device)]


def _half_squared_distances(points: torch.Tensor, half_norms: torch.Tensor, y: int) -> torch.Tensor:
    return half_norms - points @ points[y] + half_norms[y]  # (B,)


def kmeans_plus_plus(
    points: torch.Tensor, num: int, generator: torch.Generator, num_retries: int
) -> torch.Tensor:
    """``num`` centres from ``points`` (B, D) by k-means++ with retries (TF's kernel).

    Raises:
        InvalidArgumentError: fewer points than centres to choose.
    """
    count = len(points)
    if num > count:
        raise InvalidArgumentError(
            f"KMeans: kmeans_plus_plus initialization needs at least as many points in the first batch as "
            f"clusters to choose ({num}); the batch has {count}. Use a larger batch or initial_clusters='random'."
        )
    retries = num_retries if num_retries >= 0 else 2 + int(math.log(num))
    half_norms = 0.5 * (points * points).sum(dim=1)  # (B,)
    min_distances = torch.full((count,), float("inf"), dtype=points.dtype, device=points.device)
    chosen: list[int] = []

    def draw() -> int:
        if not chosen:
            return int(torch.randint(0, count, (1,), generator=generator))
        while True:
            cumsum = torch.cumsum(min_distances, 0)
            total = float(cumsum[-1])
            if not total > 0.0:
                index = int(torch.randint(0, count, (1,), generator=generator))
            else:
                u = float(torch.rand((), generator=generator)) * total
                index = min(
                    int(torch.searchsorted(cumsum, torch.tensor(u, dtype=cumsum.dtype), right=True)),
                    count - 1,
                )
            if index not in chosen:
                return index

    for _ in range(num):
        best_index, best_distances, best_potential = 0, min_distances, float("inf")
        for _ in range(1 + retries):
            index = draw()
            distances = torch.minimum(min_distances, _half_squared_distances(points, half_norms, index))
            potential = float(distances.sum())
            if potential < best_potential:
                best_index, best_distances, best_potential = index, distances, potential
        min_distances = best_distances
        chosen.append(best_index)
    return points[torch.tensor(chosen, device=points.device)]


def choose_centers(
    initial_clusters: str | Callable[..., Any],
    points: torch.Tensor,
    num: int,
    generator: torch.Generator,
    num_retries: int,
) -> torch.Tensor:
    """Up to ``num`` new centres from one batch's ``points`` (B, D), by ``initial_clusters``.

    Raises:
        InvalidArgumentError: a callable that returns something that is not ``(n <= num, D)`` centres.
    """
    if initial_clusters == RANDOM_INIT:
        return random_centers(points, num, generator)
    if initial_clusters == KMEANS_PLUS_PLUS_INIT:
        return kmeans_plus_plus(points, num, generator, num_retries)
    assert callable(initial_clusters)
    chosen = torch.as_tensor(initial_clusters([points], num), dtype=torch.float32, device=points.device)
    if chosen.dim() != 2 or chosen.shape[1] != points.shape[1] or chosen.shape[0] > num:
        raise InvalidArgumentError(
            f"KMeans: the initial_clusters callable must return at most {num} centres of dimension "
            f"{points.shape[1]}; it returned shape {list(chosen.shape)}."
        )
    return chosen
