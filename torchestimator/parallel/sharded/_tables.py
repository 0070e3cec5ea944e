"""One ``DenseFeatures`` table group as a TorchRec sharded ``EmbeddingBagCollection``.

``DenseFeatures`` fuses the tables of equal dimension into one ``EmbeddingBag`` whose rows
``[start, start + rows)`` belong to each table. Sharded, every table becomes its own TorchRec table
(``t0``, ``t1``, ... in the group's order), every column (slot) its own feature ``s0``, ``s1``, ..., and
the host's example-major bags (see :mod:`torchestimator.columns.fused_bag`) become a
``KeyedJaggedTensor``::

    host ids (N,) / offsets (B*k,)   bag b*k + c = example b, column c; ids carry the table's row start
    KJT values (N,)                  key-major (column c, then example b), ids local to the table
    KJT lengths (k*B,)               lengths of bag (c, b)
    KJT weights (N,)                 the combiner weights (ones when the host sent none)
    output (B, k*D)                  [col 0 | col 1 | ...], as the unsharded lookup

Gradient scale: each rank's loss is the mean over its local batch; DDP averages the dense gradients
over ranks, and TorchRec's collectives divide the tables' gradients by the world size (its default
``gradient division``; when a program turns that off, the pooled embeddings' gradient is multiplied by
``1 / world_size`` here) - the same update as one process fed the global batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from torchestimator.errors import InvalidArgumentError
from torchestimator.parallel.sharded._optim import FusedRule

__all__ = ["SHARDING_TYPES", "ShardedGroup", "key_major"]

SHARDING_TYPES = ("table_wise", "row_wise", "column_wise")


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; gradient times ``scale`` backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * ctx.scale, None


def key_major(
    ids: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor | None, starts: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Example-major bags -> the ``KeyedJaggedTensor``'s key-major ``(values, lengths, weights)``.

    Args:
        ids: ``(N,)`` int64, bag ``b * k + c`` of example ``b``, column ``c``; ids carry their table's row start.
        offsets: ``(B * k,)`` int64 bag starts.
        weights: ``(N,)`` float32 per-id weights, or None (all 1).
        starts: ``(k,)`` int64 first table row of each column's table.

    Returns:
        values ``(N,)`` local to each table, lengths ``(k * B,)`` of bag (c, b), weights ``(N,)``.
    """
    k, n = starts.numel(), ids.numel()
    batch = offsets.numel() // k
    if n == offsets.numel() and weights is None and torch.equal(offsets, torch.arange(n, device=ids.device)):
        # one id per bag (single-valued columns, the common CTR case): a transpose
        values = ids.view(batch, k).t().reshape(-1) - starts.repeat_interleave(batch)
        ones = torch.ones(n, dtype=torch.float32, device=ids.device)
        return values, torch.ones(n, dtype=torch.int64, device=ids.device), ones
    lengths = torch.diff(offsets, append=offsets.new_tensor([n]))  # (B*k,)
    bag = torch.repeat_interleave(torch.arange(offsets.numel(), device=ids.device), lengths)  # (N,)
    col = bag % k
    order = torch.argsort(col * batch + bag // k, stable=True)  # (N,) key-major
    values = ids[order] - starts[col[order]]
    w = weights[order] if weights is not None else torch.ones(n, dtype=torch.float32, device=ids.device)
    return values, lengths.view(batch, k).t().reshape(-1), w


def _sharder(fused_params: dict[str, Any]) -> Any:
    from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder

    class _Sharder(EmbeddingBagCollectionSharder):
        """TorchRec's sharder, with row-wise allowed on CPU (gloo runs it) and fused kernels only."""

        def sharding_types(self, compute_device_type: str) -> list[str]:
            return list(SHARDING_TYPES)

    return _Sharder(fused_params=fused_params)


class _Holder(torch.nn.Module):
    def __init__(self, ebc: torch.nn.Module) -> None:
        super().__init__()
        self.ebc = ebc

    def forward(self, kjt: Any) -> Any:
        return self.ebc(kjt)


class ShardedGroup:
    """A fused table group of a ``DenseFeatures`` layer, planned and sharded over the process group.

    Args:
        layer: the ``DenseFeatures`` layer.
        group_key: the group (``'dim16'`` ...).
        rule: how FBGEMM updates the tables (from the model_fn optimizer).
        hints: sharding type per column name or table name (``'table_wise'``, ``'row_wise'``,
            ``'column_wise'``); other tables are left to TorchRec's planner.
        device: this rank's device.
        state_key: the table's module ``state_dict`` key (its name in checkpoints).
        optimizer_name: the name of the model_fn optimizer that owns the table (its name in checkpoints).
        source: a restored sharded checkpoint to read this rank's rows from (see :meth:`load`).
    """

    def __init__(
        self,
        layer: Any,
        group_key: str,
        rule: FusedRule,
        hints: Mapping[str, str],
        device: torch.device,
        state_key: str = "",
        optimizer_name: str = "optimizer",
        source: tuple[Path, Mapping[str, Any]] | None = None,
    ) -> None:
        self.layer, self.group, self.rule, self.device = layer, layer.table_groups[group_key], rule, device
        self.world_size = dist.get_world_size()
        self.weight: torch.Tensor = layer.embedding_tables[group_key].weight
        self.shape = tuple(self.weight.shape)
        self.state_key, self.optimizer_name = state_key, optimizer_name
        self.opt_step = 0.0  # the model_fn optimizer's step count for this table (Adagrad's ``step``)
        g = self.group
        self.features = [f"s{i}" for i in range(len(g.columns))]
        self.tables: list[
            tuple[str, int, int, list[str], list[str]]
        ] = []  # name, start, rows, features, names
        for j, (table_name, (start, rows, _)) in enumerate(g.tables.items()):
            slots = [i for i, col in enumerate(g.columns) if col.table_name == table_name]
            names = [table_name, *(g.columns[i].name for i in slots)]
            names += [g.columns[i].categorical_column.name for i in slots]  # hints may name the input column
            self.tables.append((f"t{j}", start, rows, [self.features[i] for i in slots], names))
        self.starts = torch.tensor(g.slot_starts, dtype=torch.int64, device=device)
        self.plan_text = ""
        self.dmp = self._shard(hints)
        self.load(source)

    # ---- planning and sharding -----------------------------------------------------------------
    def _constraints(self, hints: Mapping[str, str]) -> dict[str, Any]:
        from torchrec.distributed.planner import ParameterConstraints

        out = {}
        for name, _, _, _, names in self.tables:
            chosen = [hints[n] for n in names if n in hints]
            for kind in chosen:
                if kind not in SHARDING_TYPES:
                    raise InvalidArgumentError(
                        f"ShardedStrategy(sharding=...): table {names[0]!r} asks for {kind!r}; expected one of "
                        f"{list(SHARDING_TYPES)}."
                    )
            if len(set(chosen)) > 1:
                raise InvalidArgumentError(
                    f"ShardedStrategy(sharding=...): the columns of table {names[0]!r} ({names[1:]}) ask for "
                    f"different sharding types {sorted(set(chosen))}; one table has one layout."
                )
            out[name] = ParameterConstraints(
                sharding_types=[chosen[0]] if chosen else list(SHARDING_TYPES), compute_kernels=["fused"]
            )
        return out

    def _shard(self, hints: Mapping[str, str]) -> Any:
        from torchrec.distributed.model_parallel import DistributedModelParallel
        from torchrec.distributed.planner import EmbeddingShardingPlanner, Topology
        from torchrec.distributed.types import ShardingEnv
        from torchrec.modules.embedding_configs import EmbeddingBagConfig, PoolingType
        from torchrec.modules.embedding_modules import EmbeddingBagCollection

        configs = [
            EmbeddingBagConfig(
                name=name,
                embedding_dim=self.group.dimension,
                num_embeddings=rows,
                feature_names=features,
                pooling=PoolingType.SUM,
            )
            for name, _, rows, features, _ in self.tables
        ]
        holder = _Holder(
            EmbeddingBagCollection(tables=configs, is_weighted=True, device=torch.device("meta"))
        )
        sharder = _sharder(self.rule.fused_params)
        topology = Topology(world_size=self.world_size, compute_device=self.device.type)
        planner = EmbeddingShardingPlanner(topology=topology, constraints=self._constraints(hints))
        pg = dist.GroupMember.WORLD
        plan = planner.collective_plan(holder, [sharder], pg)
        self.plan_text = str(plan)
        return DistributedModelParallel(
            holder,
            env=ShardingEnv.from_process_group(pg),
            device=self.device,
            plan=plan,
            sharders=[sharder],
            init_data_parallel=False,
        )

    def sharding_types(self) -> dict[str, str]:
        """The layout the plan chose per table (TF table name -> sharding type)."""
        plan = self.dmp.plan.plan["ebc"]
        return {names[0]: plan[name].sharding_type for name, _, _, _, names in self.tables}

    # ---- shards <-> full table -----------------------------------------------------------------
    def _shards(self) -> list[tuple[int, int, Any, Any]]:
        """(first row, row count, weight ShardedTensor, accumulator ShardedTensor or None) per table."""
        weights = self.dmp.state_dict()
        opt_state = self.dmp.fused_optimizer.state_dict()["state"] if self.rule.has_accumulator else {}
        out = []
        for name, start, rows, _, _ in self.tables:
            key = f"ebc.embedding_bags.{name}.weight"
            acc = opt_state[key][f"{name}.momentum1"] if key in opt_state else None  # None: no local shard
            out.append((start, rows, weights[key], acc))
        return out

    def load(self, source: tuple[Path, Mapping[str, Any]] | None = None) -> None:
        """Fill the shards, then release the layer's full table and the optimizer's accumulator.

        Args:
            source: a sharded checkpoint (folder, ``meta.json`` ``shards`` entry) holding this table: each shard
                reads its own region from the shard files. Otherwise the full table (and Adagrad accumulator) of the
                layer / model_fn optimizer is copied in.
        """
        draws = self.layer.deferred_draws.pop(self.group.key, None)  # built without its memory
        if source is not None and self.state_key in source[1]["tables"]:
            self._load_from_files(*source)
        elif draws is not None:
            self._load_initial_draws(draws)
        else:
            self._load_from_module()
        self._release()

    def _load_from_files(self, path: Path, entry: Mapping[str, Any]) -> None:
        from torchestimator.parallel.sharded._files import read_region

        info = entry["tables"][self.state_key]
        if [int(n) for n in info["shape"]] != list(self.shape):
            raise InvalidArgumentError(
                f"checkpoint {path}: table {self.state_key} has shape {info['shape']}, the model {list(self.shape)}."
            )
        saved_acc = info.get("optimizer") is not None
        for start, _, weight, acc in self._shards():
            for kind, dest in (("weight", weight), ("accumulator", acc)):
                for shard in dest.local_shards() if dest is not None else ():
                    (r0, c0), (nr, nc) = shard.metadata.shard_offsets, shard.metadata.shard_sizes
                    if kind == "accumulator" and not saved_acc:  # saved by an SGD run: TF's initial value
                        shard.tensor.fill_(float(self.rule.param_group()["initial_accumulator_value"]))
                        continue
                    region = read_region(path, entry, self.state_key, kind, (start + r0, c0), (nr, nc))
                    shard.tensor.copy_(region.view_as(shard.tensor))
        self.rule.optimizer.state.pop(self.rule.param, None)
        self.opt_step = float(info["step"]) if saved_acc and info.get("step") is not None else 0.0

    def _load_from_module(self) -> None:
        dist.broadcast(self.weight.data, src=0)  # ranks built without a seed agree on rank 0's tables
        acc_full = self.rule.accumulator() if self.rule.has_accumulator else None
        if acc_full is not None:
            dist.broadcast(acc_full, src=0)
        for start, _, weight, acc in self._shards():
            for dest, full in ((weight, self.weight.data), (acc, acc_full)):
                if dest is None or full is None:
                    continue
                for shard in dest.local_shards():
                    (r0, c0), (nr, nc) = shard.metadata.shard_offsets, shard.metadata.shard_sizes
                    shard.tensor.copy_(full[start + r0 : start + r0 + nr, c0 : c0 + nc].view_as(shard.tensor))
        self._check_loaded()

    def _load_initial_draws(self, draws: list[Any]) -> None:
        """A table built without its memory: each shard draws its own rows of TF's initial values (rank 0's RNG
        stream), and the accumulator starts at TF's initial value (or a restored one, when the optimizer holds it)."""
        from torchestimator.parallel.sharded._deferred import draw_rows

        by_start = {}
        for draw in draws:
            state = draw.state.to(
                self.weight.device if self.weight.is_cuda else "cpu"
            )  # nccl: a device tensor
            dist.broadcast(state, src=0)  # ranks built without a seed draw rank 0's tables
            draw.state = state.cpu()
            by_start[draw.start] = draw
        state = self.rule.optimizer.state.get(self.rule.param) or {}
        restored = state.get("sum") if self.rule.has_accumulator else None
        initial = (
            float(self.rule.param_group()["initial_accumulator_value"]) if self.rule.has_accumulator else 0.0
        )
        for start, _, weight, acc in self._shards():
            for shard in weight.local_shards():
                (r0, c0), (nr, nc) = shard.metadata.shard_offsets, shard.metadata.shard_sizes
                direct = nc == self.group.dimension and shard.tensor.is_contiguous()
                if direct and shard.tensor.device.type == "cpu":
                    draw_rows(
                        by_start[start], r0, nr, out=shard.tensor.view(nr, nc)
                    )  # straight into the shard
                else:
                    values = draw_rows(by_start[start], r0, nr)[:, c0 : c0 + nc]
                    shard.tensor.copy_(values.reshape(shard.tensor.shape))
            for shard in acc.local_shards() if acc is not None else ():
                (r0, c0), (nr, nc) = shard.metadata.shard_offsets, shard.metadata.shard_sizes
                if restored is not None and not restored.is_meta:
                    region = restored[start + r0 : start + r0 + nr, c0 : c0 + nc]
                    shard.tensor.copy_(region.reshape(shard.tensor.shape))
                else:
                    shard.tensor.fill_(initial)

    def _release(self) -> None:
        """Free the full table and accumulator: from now on only this rank's shards hold them.

        The layer's parameter keeps its shape over a single element (a stride-0 view, 4 bytes; in-place writes
        fail loudly), so ``state_dict`` keys and DDP's ignore list stay valid; the model_fn optimizer forgets the
        table's state (FBGEMM owns the accumulator; the step count is kept in :attr:`opt_step`).
        """
        state = self.rule.optimizer.state.pop(self.rule.param, None) or {}
        if "step" in state:
            self.opt_step = float(state["step"])
        self.weight.data = torch.zeros(1, dtype=self.weight.dtype, device=self.weight.device).expand(
            self.shape
        )

    def placeholder_to_storage(self) -> None:
        """Give the layer's table full-size (uninitialised) storage again, for a checkpoint to be loaded into."""
        if self.weight.stride() != torch.empty(self.shape).stride():
            self.weight.data = torch.empty(self.shape, dtype=self.weight.dtype, device=self.weight.device)

    def _check_loaded(self) -> None:
        """The shards must be views of FBGEMM's storage: re-read them and compare (else fail loudly)."""
        acc_full = self.rule.accumulator() if self.rule.has_accumulator else None
        for start, _, weight, acc in self._shards():
            for src, full in ((weight, self.weight.data), (acc, acc_full)):
                if src is None or full is None:
                    continue
                for shard in src.local_shards():
                    (r0, c0), (nr, nc) = shard.metadata.shard_offsets, shard.metadata.shard_sizes
                    expected = full[start + r0 : start + r0 + nr, c0 : c0 + nc]
                    if not torch.equal(shard.tensor.reshape(expected.shape), expected):
                        raise RuntimeError(
                            "TorchRec's state_dict shards are not views of FBGEMM's tables / optimizer state: "
                            "the restored values did not reach the shards."
                        )

    def local_bytes(self) -> int:
        """Bytes of this rank's shards: table rows and their optimizer state (FBGEMM's accumulator)."""
        return sum(
            shard.tensor.numel() * shard.tensor.element_size()
            for _, _, weight, acc in self._shards()
            for st in (weight, acc)
            if st is not None
            for shard in st.local_shards()
        )

    def gather_into_module(self) -> None:
        """Rebuild the layer's table and the optimizer's accumulator from the shards, on every rank, in place.

        Every row of the group belongs to exactly one rank's shard: each rank zeroes the full tensors, writes its
        shards, and one sum over ranks completes them (no second full-size buffer).
        """
        self.placeholder_to_storage()
        full_w = self.weight.data
        full_acc = self.rule.accumulator() if self.rule.has_accumulator else None
        if full_acc is not None:
            self.rule.optimizer.state[self.rule.param]["step"] = torch.tensor(self.opt_step)
        with torch.no_grad():
            full_w.zero_()
            if full_acc is not None:
                full_acc.zero_()
        for start, _, weight, acc in self._shards():
            for src, full in ((weight, full_w), (acc, full_acc)):
                if src is None or full is None:
                    continue
                for shard in src.local_shards():
                    (r0, c0), (nr, nc) = shard.metadata.shard_offsets, shard.metadata.shard_sizes
                    full[start + r0 : start + r0 + nr, c0 : c0 + nc] = shard.tensor.reshape(nr, nc)
        dist.all_reduce(full_w)
        if full_acc is not None:
            dist.all_reduce(full_acc)

    def local_pieces(self, pieces: list[dict[str, Any]], tensors: dict[str, torch.Tensor]) -> None:
        """Append this rank's shards (weights and accumulators) as shard-file pieces in full-table coordinates."""
        for start, _, weight, acc in self._shards():
            for kind, src in (("weight", weight), ("accumulator", acc)):
                for shard in src.local_shards() if src is not None else ():
                    (r0, c0), (nr, nc) = shard.metadata.shard_offsets, shard.metadata.shard_sizes
                    name = f"{self.state_key}/{kind}/{len(tensors)}"
                    tensors[name] = shard.tensor.reshape(nr, nc)
                    pieces.append(
                        {
                            "tensor": name,
                            "table": self.state_key,
                            "kind": kind,
                            "offsets": [start + r0, c0],
                            "sizes": [nr, nc],
                        }
                    )

    def table_entry(self) -> dict[str, Any]:
        """The table's entry in ``meta.json``'s ``shards`` (shape; the optimizer slot its accumulator restores)."""
        params = [p for g in self.rule.optimizer.param_groups for p in g["params"]]
        index = next(i for i, p in enumerate(params) if p is self.rule.param)
        has_acc = self.rule.has_accumulator
        return {
            "shape": list(self.shape),
            "optimizer": self.optimizer_name if has_acc else None,
            "index": index,
            "step": self.opt_step if has_acc else None,
        }

    # ---- forward ---------------------------------------------------------------------------------
    def kjt(self, t: Mapping[str, Any]) -> Any:
        """The ``KeyedJaggedTensor`` of the host's example-major bags (see the module docstring)."""
        from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

        p = f"{self.layer.key_prefix}/{self.group.key}"
        values, lengths, weights = key_major(
            t[f"{p}/ids"], t[f"{p}/offsets"], t.get(f"{p}/weights"), self.starts
        )
        return KeyedJaggedTensor(keys=self.features, values=values, lengths=lengths, weights=weights)

    def lookup(self, t: Mapping[str, Any]) -> torch.Tensor:
        """``(B, k*D)``: the sharded lookup, laid out as the unsharded one."""
        out = self.dmp(self.kjt(t))
        pooled = out.wait() if hasattr(out, "wait") else out
        if list(pooled.keys()) == self.features:
            values = pooled.values()  # (B, k*D)
        else:
            by_key = pooled.to_dict()
            values = torch.cat([by_key[f] for f in self.features], dim=1)
        from torchrec.distributed.comm_ops import get_gradient_division

        # TorchRec's collectives divide the tables' gradient by the world size unless turned off
        scale = 1.0 if get_gradient_division() else 1.0 / self.world_size
        return values if scale == 1.0 else _ScaleGrad.apply(values, scale)
