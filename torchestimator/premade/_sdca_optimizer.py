"""``SDCAOptimizer``: the ``torch.optim.Optimizer`` that trains a ``LinearModel`` with SDCA.

It is what ``LinearClassifier(..., optimizer=LinearSDCA(...))`` puts in ``train_op``: the model_fn
stages the batch (:meth:`SDCAOptimizer.stage`) and the training loop's ``step()`` runs one pass of
dual coordinate ascent over it (:func:`~torchestimator.premade._sdca_kernel.dual_coordinate_ascent`).
Being an Optimizer, its state travels in the checkpoint's ``optimizer.safetensors`` like any slot:

    state[param]["unshrunk"]         float32, the param's shape   TF's ``<var>_unshrunk`` slot
    state[bias]["example_keys"]      int64 (N, 2)                 128-bit digests of the example ids
    state[bias]["example_state"]     float32 (N, 4)               dual, primal loss, dual loss, weight

After every step the model's weights are ``shrink(unshrunk)`` (TF's ``_SDCAUpdateWeightsHook``).
The slots start at zero, as TF's do (whatever the weights were, e.g. after a warm start).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.premade._sdca_kernel import SDCABatch, adaptive_order, dual_coordinate_ascent

__all__ = ["SDCAOptimizer", "StagedBatch", "example_keys"]


def example_keys(example_ids: Any, column: str) -> np.ndarray:
    """``(B, 16)`` uint8 digests of the example ids (strings, bytes or integers).

    Raises:
        InvalidArgumentError: ids that are not a 1-D sequence of strings / bytes / integers.
    """
    if isinstance(example_ids, torch.Tensor):
        example_ids = example_ids.detach().cpu().numpy()
    values = np.asarray(example_ids, dtype=object).reshape(-1)
    digests = bytearray()
    for value in values:
        if isinstance(value, bytes):
            raw = value
        elif isinstance(value, (str, np.str_)):
            raw = str(value).encode("utf-8")
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            raw = str(int(value)).encode("utf-8")
        else:
            raise InvalidArgumentError(
                f"LinearSDCA: example_id_column {column!r} must hold one string (or integer) id per example; "
                f"received a {type(value).__name__}."
            )
        digests += hashlib.blake2b(raw, digest_size=16).digest()
    return np.frombuffer(bytes(digests), dtype=np.uint8).reshape(len(values), 16)


class StagedBatch:
    """A batch as the SDCA step needs it (host numpy arrays, global row ids)."""

    def __init__(
        self,
        keys: np.ndarray,  # (B, 16) uint8
        sparse_rows: np.ndarray,  # int64 (n,) rows of the fused sparse table, deduplicated per example
        sparse_examples: np.ndarray,  # int64 (n,) example of each entry, ascending
        sparse_values: np.ndarray,  # float64 (n,)
        dense: np.ndarray,  # float64 (B, D)
        labels: np.ndarray,  # float64 (B,) converted
        weights: np.ndarray,  # float64 (B,)
    ) -> None:
        self.keys, self.dense, self.labels, self.weights = keys, dense, labels, weights
        self.sparse_rows, self.sparse_examples, self.sparse_values = (
            sparse_rows,
            sparse_examples,
            sparse_values,
        )


def dedup_sparse(
    rows: np.ndarray, examples: np.ndarray, values: np.ndarray, num_rows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One entry per (example, row), values summed (TF's ``_prune_and_unique_sparse_ids``), example-major."""
    key = examples.astype(np.int64) * max(num_rows, 1) + rows.astype(np.int64)
    unique, inverse = np.unique(key, return_inverse=True)
    summed = np.bincount(inverse, weights=values, minlength=len(unique))
    return unique % max(num_rows, 1), unique // max(num_rows, 1), summed


class _ExampleTable:
    """Example digest -> state row (TF's ``_ShardedMutableDenseHashTable`` of SDCA); rows grow by doubling."""

    def __init__(self) -> None:
        self._keys = np.zeros((0, 16), np.uint8)
        self._state = np.zeros((0, 4), np.float32)
        self.size = 0
        self.index: dict[bytes, int] = {}

    @property
    def keys(self) -> np.ndarray:
        """(N, 16) uint8 digests."""
        return self._keys[: self.size]

    @property
    def state(self) -> np.ndarray:
        """(N, 4) float32 rows: dual, primal loss, dual loss, example weight."""
        return self._state[: self.size]

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """(B, 4) rows, zeros for unseen examples."""
        rows = np.asarray([self.index.get(k.tobytes(), -1) for k in keys], np.int64)
        out = np.zeros((len(keys), 4), np.float32)
        found = rows >= 0
        out[found] = self._state[rows[found]]
        return out

    def insert(self, keys: np.ndarray, state: np.ndarray) -> None:
        rows = np.empty(len(keys), np.int64)
        for i, key in enumerate(keys):
            raw = key.tobytes()
            at = self.index.get(raw)
            if at is None:
                at = self.index[raw] = self.size
                self.size += 1
            rows[i] = at
        if self.size > len(self._keys):
            capacity = max(self.size, 2 * len(self._keys), 1024)
            self._keys = np.concatenate([self._keys, np.zeros((capacity - len(self._keys), 16), np.uint8)])
            self._state = np.concatenate(
                [self._state, np.zeros((capacity - len(self._state), 4), np.float32)]
            )
        self._keys[rows] = keys
        self._state[rows] = state  # a repeated id within the batch keeps its last row, as TF's insert

    def load(self, keys: np.ndarray, state: np.ndarray) -> None:
        self._keys = np.ascontiguousarray(keys.view(np.uint8).reshape(-1, 16))
        self._state = np.ascontiguousarray(state, dtype=np.float32).reshape(-1, 4)
        self.size = len(self._keys)
        self.index = {k.tobytes(): i for i, k in enumerate(self._keys)}


class SDCAOptimizer(torch.optim.Optimizer):
    """SDCA over a ``LinearModel``'s weights: ``[sparse table (R, 1)], [dense kernel (D, 1)], bias (1,)``.

    Args:
        params: the linear model's weights in that order (absent parts left out).
        layout: ``'sparse'`` / ``'dense'`` / ``'bias'`` for each param.
        loss_type: 'logistic_loss' or 'squared_loss'.
        symmetric_l1_regularization: l1 (>= 0).
        symmetric_l2_regularization: l2 (> 0).
        num_loss_partitions: TF's ``num_loss_partitions``.
        order_fn: ``B -> permutation`` of the visiting order (default: ``torch.randperm``, so
            ``RunConfig.tf_random_seed`` makes runs repeatable).
        adaptive: visit examples by TF's adaptive importance sampling instead of a permutation.
    """

    def __init__(
        self,
        params: Sequence[torch.nn.Parameter],
        layout: Sequence[str],
        loss_type: str,
        symmetric_l1_regularization: float,
        symmetric_l2_regularization: float,
        num_loss_partitions: int = 1,
        order_fn: Callable[[int], np.ndarray] | None = None,
        adaptive: bool = False,
    ) -> None:
        defaults = {
            "l1": float(symmetric_l1_regularization),
            "l2": float(symmetric_l2_regularization),
            "num_loss_partitions": int(num_loss_partitions),
            "loss_type": loss_type,
            "adaptive": bool(adaptive),
        }
        super().__init__(list(params), defaults)
        self.layout = list(layout)
        self._order_fn = order_fn or (lambda n: torch.randperm(n).numpy())
        self._table = _ExampleTable()
        self._staged: StagedBatch | None = None

    # -- the batch -------------------------------------------------------------------------------
    def stage(self, batch: StagedBatch) -> None:
        """The batch the next :meth:`step` trains on (set by the model_fn in TRAIN mode)."""
        self._staged = batch

    def _params_by_role(self) -> dict[str, torch.Tensor]:
        params = self.param_groups[0]["params"]
        return dict(zip(self.layout, params))

    def _slot(self, param: torch.Tensor) -> torch.Tensor:
        state = self.state[param]
        if "unshrunk" not in state:
            state["unshrunk"] = torch.zeros_like(param, dtype=torch.float32)
        return state["unshrunk"]

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        """One SDCA pass over the staged batch, then ``weights = shrink(unshrunk)``.

        Raises:
            InvalidArgumentError: no batch was staged (the optimizer is driven by its model_fn).
        """
        batch, self._staged = self._staged, None
        if batch is None:
            raise InvalidArgumentError(
                "SDCAOptimizer.step() needs a batch staged by the linear model_fn's TRAIN forward; it is not a "
                "gradient optimizer and cannot be stepped on its own."
            )
        group = self.param_groups[0]
        by_role = self._params_by_role()
        slots = {role: self._slot(p) for role, p in by_role.items()}
        rows, local_of_entry = np.unique(batch.sparse_rows, return_inverse=True)
        n_sparse, dim = len(rows), batch.dense.shape[1]
        nominal = np.concatenate(
            [
                slots["sparse"][torch.from_numpy(rows)].reshape(-1).double().cpu().numpy()
                if n_sparse
                else [],
                slots["dense"].reshape(-1).double().cpu().numpy() if dim else [],
                slots["bias"].reshape(-1).double().cpu().numpy(),
            ]
        )
        sdca_batch = self._local_batch(batch, local_of_entry, n_sparse)
        num = len(batch.labels)
        if group["adaptive"]:
            uniform = torch.rand(4 * num, dtype=torch.float64).numpy()
            order = adaptive_order(sdca_batch, nominal, group["loss_type"], group["l1"], group["l2"], uniform)
        else:
            order = np.asarray(self._order_fn(num), np.int64)
        result = dual_coordinate_ascent(
            sdca_batch,
            nominal,
            group["loss_type"],
            group["l1"],
            group["l2"],
            group["num_loss_partitions"],
            order,
        )
        delta = torch.from_numpy(result.delta.astype(np.float32))
        if n_sparse:
            sparse = slots["sparse"]
            sparse.index_add_(
                0, torch.from_numpy(rows).to(sparse.device), delta[:n_sparse].to(sparse.device)[:, None]
            )
        if dim:
            slots["dense"].add_(delta[n_sparse : n_sparse + dim].to(slots["dense"].device)[:, None])
        slots["bias"].add_(delta[n_sparse + dim :].to(slots["bias"].device))
        self._table.insert(batch.keys, result.state)
        shrinkage = group["l1"] / group["l2"]
        for role, param in by_role.items():
            value = slots[role]
            if shrinkage > 0:
                value = torch.sign(value) * torch.clamp(value.abs() - shrinkage, min=0.0)
            param.copy_(value)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The state rows of ``keys`` (zeros for examples not seen yet)."""
        return self._table.lookup(keys)

    def _local_batch(self, batch: StagedBatch, local_of_entry: np.ndarray, n_sparse: int) -> SDCABatch:
        num, dim = batch.dense.shape
        per_example = np.bincount(batch.sparse_examples, minlength=num) + dim + 1  # (B,)
        indptr = np.zeros(num + 1, np.int64)
        np.cumsum(per_example, out=indptr[1:])
        cols = np.empty(indptr[-1], np.int64)
        vals = np.empty(indptr[-1], np.float64)
        sparse_start = np.zeros(num + 1, np.int64)
        np.cumsum(np.bincount(batch.sparse_examples, minlength=num), out=sparse_start[1:])
        # sparse entries are example-major: entry j of example e goes to indptr[e] + (j - sparse_start[e])
        pos = indptr[batch.sparse_examples] + (
            np.arange(len(batch.sparse_examples)) - sparse_start[batch.sparse_examples]
        )
        cols[pos] = local_of_entry
        vals[pos] = batch.sparse_values
        first_dense = indptr[:-1] + (sparse_start[1:] - sparse_start[:-1])  # (B,)
        dense_pos = first_dense[:, None] + np.arange(dim + 1)[None, :]  # (B, D + 1)
        cols[dense_pos] = n_sparse + np.arange(dim + 1)[None, :]
        vals[dense_pos] = np.concatenate([batch.dense, np.ones((num, 1))], axis=1)
        state = self._table.lookup(batch.keys)
        return SDCABatch(
            indptr, cols, vals, batch.labels, batch.weights, state[:, 0].astype(np.float64), state
        )

    # -- diagnostics -----------------------------------------------------------------------------
    def approximate_duality_gap(self) -> float:
        """TF's ``approximate_duality_gap``: (Σ primal + Σ dual + l1·|w|₁ + l2·|w|²) / Σ weights."""
        group = self.param_groups[0]
        state = self._table.state.astype(np.float64)
        if not len(state):
            return float("nan")
        weights = [p.detach().double().cpu() for p in self._params_by_role().values()]
        l1 = group["l1"] * sum(float(w.abs().sum()) for w in weights)
        l2 = group["l2"] * sum(float((w * w).sum()) for w in weights)
        return float((state[:, 1].sum() + state[:, 2].sum() + l1 + l2) / state[:, 3].sum())

    @property
    def examples_seen(self) -> int:
        """How many distinct example ids have been trained on."""
        return len(self._table.keys)

    # -- checkpoint ------------------------------------------------------------------------------
    def _bias_index(self) -> int:
        return self.layout.index("bias")

    def state_dict(self) -> dict[str, Any]:
        """The torch state dict, with the example table under the bias's state."""
        out = super().state_dict()
        state = dict(out["state"])
        entry = dict(state.get(self._bias_index(), {}))
        entry["example_keys"] = torch.from_numpy(self._table.keys.copy()).view(torch.int64)  # (N, 2)
        entry["example_state"] = torch.from_numpy(self._table.state.copy())  # (N, 4)
        state[self._bias_index()] = entry
        return {**out, "state": state}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load slots and the example table (kept out of torch's dtype casting: the keys are int64)."""
        state = {k: dict(v) for k, v in state_dict["state"].items()}
        entry = state.get(self._bias_index(), state.get(str(self._bias_index()), {}))
        keys, values = entry.pop("example_keys", None), entry.pop("example_state", None)
        super().load_state_dict({**state_dict, "state": state})
        self._table = _ExampleTable()
        if keys is not None and values is not None:
            self._table.load(keys.cpu().contiguous().numpy(), values.float().cpu().numpy())
