"""``sample_from_datasets`` and ``choose_from_datasets``: elements drawn from several datasets.

``sample_from_datasets`` picks the next dataset at random with probabilities ``weights`` (numpy's
generator; a seed per dataset, drawn from numpy's global generator when ``seed=None``, and a new draw
sequence per iteration unless ``rerandomize_each_iteration=False``); an exhausted dataset's weight drops
to 0 unless ``stop_on_empty_dataset``. ``choose_from_datasets`` follows TF's order exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from torchestimator.data._dataset import Dataset
from torchestimator.data._nodes import register_nodes
from torchestimator.errors import InputError, InvalidArgumentError

__all__ = ["Choose", "Sample"]

_END = object()  # marks an exhausted iterator


def _check_datasets(datasets: Any, what: str) -> list[Dataset]:
    datasets = list(datasets)
    if not datasets or not all(isinstance(d, Dataset) for d in datasets):
        raise InvalidArgumentError(f"{what} needs a non-empty list of Datasets; received {datasets!r}.")
    return datasets


class Sample(Dataset):
    """``sample_from_datasets``: each element from a dataset drawn with probability ``weights``."""

    def __init__(self, datasets: Any, weights: Any, seed: Any, stop_on_empty: bool, rerandomize: Any) -> None:
        self._datasets = _check_datasets(datasets, "sample_from_datasets")
        w = (
            np.ones(len(self._datasets))
            if weights is None
            else np.asarray(weights, dtype=np.float64).reshape(-1)
        )
        if w.shape != (len(self._datasets),) or np.any(w < 0) or not w.sum() > 0:
            raise InvalidArgumentError(
                f"sample_from_datasets: weights must be {len(self._datasets)} non-negative numbers, not all 0; "
                f"received {weights!r}."
            )
        self._weights = w
        self._seed = int(np.random.randint(0, 2**62, dtype=np.int64)) if seed is None else int(seed)
        self._stop = bool(stop_on_empty)
        self._rerandomize = True if rerandomize is None else bool(rerandomize)
        self._iteration = 0

    def _elements(self) -> Iterator[Any]:
        rng = np.random.default_rng([self._seed, self._iteration if self._rerandomize else 0])
        self._iteration += 1
        its = [iter(d) for d in self._datasets]
        w = self._weights.copy()
        while w.sum() > 0:
            i = int(rng.choice(len(its), p=w / w.sum()))
            element = next(its[i], _END)
            if element is _END:
                if self._stop:
                    return
                w[i] = 0.0
                continue
            yield element


class Choose(Dataset):
    """``choose_from_datasets``: the next element of ``datasets[i]`` for each ``i`` of ``choice_dataset``."""

    def __init__(self, datasets: Any, choice_dataset: Any, stop_on_empty: bool) -> None:
        self._datasets = _check_datasets(datasets, "choose_from_datasets")
        if not isinstance(choice_dataset, Dataset):
            raise InvalidArgumentError(
                f"choose_from_datasets: choice_dataset must be a Dataset of ints; received {type(choice_dataset).__name__}."
            )
        self._choices = choice_dataset
        self._stop = bool(stop_on_empty)

    def _elements(self) -> Iterator[Any]:
        its = [iter(d) for d in self._datasets]
        for choice in self._choices:
            i = int(choice)
            if not 0 <= i < len(its):
                raise InputError(f"choose_from_datasets: choice {i} is outside [0, {len(its)}).")
            element = next(its[i], _END)
            if element is _END:
                if self._stop:
                    return
                continue
            yield element


register_nodes(Sample, Choose)
