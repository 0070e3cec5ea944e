"""``ShardedStrategy``: TF's ParameterServerStrategy as TorchRec-sharded embedding tables + DDP.

TF partitioned large embedding variables across parameter servers. Here the embedding tables of every
``DenseFeatures`` layer are split across the training processes instead (TorchRec's
``EmbeddingBagCollection`` under ``DistributedModelParallel``, FBGEMM's table-batched kernels with the
optimizer applied in the backward pass), and the dense rest of the model trains under DDP:

=========================  ===========================================================================
process group, devices     as :class:`~torchestimator.parallel.DDPStrategy` (torchrun env, gloo / nccl)
``prepare(module)``        the model_fn's optimizers, built before ``wrap`` so a restored state (Adagrad
                           accumulators) reaches the shards
``building()``             the model is built with its table groups as placeholders (TF's initial
                           draws recorded, not held: :mod:`~torchestimator.parallel.sharded._deferred`)
``wrap(module)``           each trainable, un-clipped table group -> a planned, sharded collection
                           (table-wise / row-wise / column-wise: TorchRec's planner, or ``sharding``
                           hints), filled with each rank's rows (initial draws, a restored sharded
                           checkpoint's shard files, or the layer's restored table, then released):
                           no rank holds the full table or accumulator; the rest -> DDP
forward (TRAIN)            the layer looks its ids up in the shards (``KeyedJaggedTensor`` built from the
                           TF-exact host ids)
``sync_to_module()``       at every checkpoint save: each rank writes its shards (weights + FBGEMM
                           Adagrad accumulators) as shard files the chief's save adopts
                           (:mod:`~torchestimator.parallel.sharded._files`); reading assembles the full
                           tables (resume on any world size, ``get_variable_value``, export)
``finish_train(saved)``    end of ``train()``: the layer's table comes back for EVAL / PREDICT / export
                           (reloaded from the final checkpoint, or gathered when there is none)
=========================  ===========================================================================

Optimizers: see :mod:`torchestimator.parallel.sharded._optim` (Adagrad and SGD exactly). A table whose optimizer
has no exact FBGEMM rule (FTRL, Adam, RMSProp, ...) is never approximated: it stays replicated under DDP with its
exact rule and a warning names it, or, with ``strict=True``, training stops with the reason.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from torchestimator.errors import InvalidArgumentError, MissingDependencyError
from torchestimator.optional import import_optional
from torchestimator.parallel.ddp import DDPStrategy
from torchestimator.parallel.placement import module_optimizers, move_optimizer_state

__all__ = ["ShardedStrategy"]

logger = logging.getLogger("torchestimator")


def _layers(module: torch.nn.Module) -> list[tuple[str, Any]]:
    from torchestimator.columns import DenseFeatures

    return [(name, sub) for name, sub in module.named_modules() if isinstance(sub, DenseFeatures)]


def _shardable_groups(module: torch.nn.Module) -> list[tuple[str, Any, str]]:
    """``(layer name, layer, group key)`` of every trainable, un-clipped table group (what gets sharded)."""
    return [
        (name, layer, key)
        for name, layer in _layers(module)
        for key, group in layer.table_groups.items()
        if group.trainable and group.max_norm is None
    ]


def model_optimizers(module: torch.nn.Module) -> dict[str, torch.optim.Optimizer]:
    """The model_fn's optimizers, named as its ``train_op`` names them (pre-made models build them here)."""
    build = getattr(module, "optimizers", None)
    if callable(build) and hasattr(module, "_optimizer_plan"):
        built = dict(build())
        return {"optimizer": next(iter(built.values()))} if len(built) == 1 else built
    return module_optimizers(module)


def _restore_unsharded(
    module: torch.nn.Module,
    optimizers: Mapping[str, Any],
    source: tuple[Path, Mapping[str, Any]],
    sharded: set[str],
) -> None:
    """Tables a sharded checkpoint holds that this run keeps replicated: read whole from the shard files."""
    from torchestimator.parallel.sharded._files import read_region

    path, entry = source
    params = dict(module.named_parameters())
    for key, info in entry["tables"].items():
        if key in sharded or key not in params:
            continue
        shape = (int(info["shape"][0]), int(info["shape"][1]))
        with torch.no_grad():
            params[key].copy_(read_region(path, entry, key, "weight", (0, 0), shape))
        opt = optimizers.get(info.get("optimizer") or "")
        if opt is not None and isinstance(opt, torch.optim.Adagrad):
            acc = read_region(path, entry, key, "accumulator", (0, 0), shape).to(params[key].device)
            opt.state[params[key]] = {"sum": acc, "step": torch.tensor(float(info.get("step") or 0))}
        logger.warning("%s is not sharded in this run: read whole from the shard files of %s.", key, path)


class ShardedStrategy(DDPStrategy):
    """Sharded embedding tables (TorchRec) + DDP for the dense tower.

    Args:
        sharding: optional sharding type per column name or table name: ``'table_wise'``,
            ``'row_wise'`` or ``'column_wise'``; other tables are planned by TorchRec.
        strict: raise when a table cannot be sharded exactly: its optimizer has no exact FBGEMM rule (FTRL,
            Adam, RMSProp, ...) or its dimension is not a multiple of 4 (FBGEMM's kernels); by default such a
            table stays replicated under DDP with its exact rule, and a warning says so.
        device: as :class:`~torchestimator.parallel.DDPStrategy`.
        backend: as :class:`~torchestimator.parallel.DDPStrategy`.
        timeout_secs: as :class:`~torchestimator.parallel.DDPStrategy`.

    Raises:
        InvalidArgumentError: an unknown sharding type.

    Example:
        >>> ShardedStrategy(sharding={"user_id_embedding": "row_wise"})
        ShardedStrategy(sharding={'user_id_embedding': 'row_wise'})
    """

    def __init__(
        self,
        sharding: Mapping[str, str] | None = None,
        device: str | torch.device | None = None,
        backend: str | None = None,
        timeout_secs: float | None = None,
        strict: bool = False,
    ) -> None:
        from torchestimator.parallel.sharded._tables import SHARDING_TYPES

        super().__init__(device=device, backend=backend, timeout_secs=timeout_secs)
        self.sharding = dict(sharding or {})
        self.strict = bool(strict)
        for name, kind in self.sharding.items():
            if kind not in SHARDING_TYPES:
                raise InvalidArgumentError(
                    f"ShardedStrategy(sharding=...): {name!r} asks for {kind!r}; expected one of "
                    f"{list(SHARDING_TYPES)}."
                )
        self._groups: list[Any] = []
        self._steps_since_sync = 0
        self._pending: Any = None
        self._source: Any = None  # a restored sharded checkpoint the shards read their rows from

    def __repr__(self) -> str:
        return f"ShardedStrategy(sharding={self.sharding!r})"

    @property
    def groups(self) -> list[Any]:
        """The sharded table groups (each with ``sharding_types()`` and ``plan_text``)."""
        return list(self._groups)

    def prepare(self, module: torch.nn.Module, config: Any = None) -> dict[str, torch.optim.Optimizer]:
        """The model_fn optimizers to register (and restore) before :meth:`wrap`.

        Raises:
            InvalidArgumentError: ``RunConfig.gradient_clip_norm`` is set (FBGEMM applies the tables' updates
                inside the backward pass, so their gradients could not join the global norm).
        """
        if getattr(config, "gradient_clip_norm", None) is not None and _shardable_groups(module):
            raise InvalidArgumentError(
                "RunConfig.gradient_clip_norm cannot be combined with sharded embedding tables "
                "(train_distribute='sharded' / 'ParameterServerStrategy'): FBGEMM updates the tables inside the "
                "backward pass, so their gradients never join the clipped global norm. Unset gradient_clip_norm, or "
                "use train_distribute='ddp'."
            )
        from torchestimator.parallel.sharded._deferred import optimizers_without_table_state

        return optimizers_without_table_state(module, lambda: model_optimizers(module))

    def building(self) -> Any:
        """The model's sharded-candidate tables are built without their memory (see ``_deferred``)."""
        from torchestimator.parallel.sharded._deferred import deferred_tables

        return deferred_tables()

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """Shard the tables (first call), then DDP over the rest.

        Raises:
            InvalidArgumentError: (``strict``) a table's optimizer has no exact FBGEMM counterpart.
            MissingDependencyError: torchrec is not installed.
        """
        self.setup()
        move_optimizer_state(module)  # accumulators built before module.to(cuda) follow their table first
        source, self._source = self._source, None
        if not self._groups:
            self._shard_tables(module, source)
        else:  # a later train() call: the module may hold a restored checkpoint's tables
            for group in self._groups:
                group.load(source)
        from torchestimator.parallel.sharded._deferred import materialise

        for _, layer in _layers(module):  # tables built without memory that stay replicated: drawn whole now
            for key in list(layer.deferred_draws):
                materialise(layer, key)
        if source is not None:
            _restore_unsharded(module, model_optimizers(module), source, {g.state_key for g in self._groups})
        return super().wrap(module)

    reads_shard_files = True

    def restored_from(self, state: Any) -> None:
        """Remember a restored sharded checkpoint whose tables were left to the ranks (each reads its rows)."""
        self._source = (Path(state.path), state.meta["shards"]) if state.shards_deferred else None

    def _shard_tables(self, module: torch.nn.Module, source: Any = None) -> None:
        try:
            import_optional("torchrec", extra="torchrec", purpose="train_distribute='sharded'")
        except (
            OSError
        ) as err:  # FBGEMM's libraries do not load (a CUDA build on a CPU machine, another torch)
            raise MissingDependencyError(
                f"train_distribute='sharded' needs torchrec 1.8.0 with FBGEMM 1.8.0 built for this torch "
                f"({torch.__version__}), but FBGEMM failed to load: {err}. On a CPU machine `pip install` of torchrec "
                "also brings the CUDA fbgemm-gpu, which shadows fbgemm-gpu-cpu: run `bash scripts/setup_torchrec.sh "
                "<python>` (or `pip uninstall fbgemm-gpu && pip install --no-deps --force-reinstall "
                "fbgemm-gpu-cpu==1.8.0`)."
            ) from err
        from torchestimator.parallel.sharded._optim import fused_rule
        from torchestimator.parallel.sharded._tables import ShardedGroup

        named = model_optimizers(module)
        optimizers = list(named.values())
        ignored: list[str] = []
        for layer_name, layer, key in _shardable_groups(module):  # frozen / max_norm tables stay replicated
            weight = layer.embedding_tables[key].weight
            owner = next(
                (o for o in optimizers if any(p is weight for g in o.param_groups for p in g["params"])),
                None,
            )
            if owner is None:
                raise InvalidArgumentError(
                    f"train_distribute='sharded': no optimizer of the model_fn holds the table "
                    f"{layer_name}.embedding_tables.{key}; keep the optimizer an attribute of the model module "
                    "(or a pre-made estimator) so its rule can be applied to the sharded tables."
                )
            try:
                if layer.table_groups[key].dimension % 4:
                    raise InvalidArgumentError(
                        f"embedding dimension {layer.table_groups[key].dimension} is not a multiple of 4, which FBGEMM's "
                        "kernels require; use a dimension divisible by 4 to shard this table"
                    )
                rule = fused_rule(owner, weight)
            except InvalidArgumentError as err:
                if self.strict:
                    raise
                logger.warning("%s.embedding_tables.%s stays replicated under DDP: %s", layer_name, key, err)
                continue
            prefix = f"{layer_name}." if layer_name else ""
            state_key = f"{prefix}embedding_tables.{key}.weight"
            opt_name = next(n for n, o in named.items() if o is owner)
            sharded = ShardedGroup(layer, key, rule, self.sharding, self.device, state_key, opt_name, source)
            layer.sharded_lookups[key] = sharded.lookup
            self._groups.append(sharded)
            ignored.append(state_key)
            logger.info("Sharded %s%s: %s", prefix, key, sharded.sharding_types())
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(module, ignored)

    def step_boundary(self) -> None:
        self._steps_since_sync += 1
        if self._groups:
            from torchestimator.parallel.sharded._optim import check_learning_rates

            check_learning_rates([g.rule for g in self._groups], [g.state_key for g in self._groups])

    def sync_to_module(self, model_dir: str | None = None, step: int | None = None) -> None:
        """Every rank writes its shards (weights + FBGEMM accumulators) for the chief's checkpoint of ``step``.

        Three barriers: the chief clears the step's staging folder, every rank writes its files (fsynced,
        renamed), and the chief adopts them only once every rank is done (:meth:`checkpoint_shards`).
        """
        self._count_steps()
        if not self._groups or model_dir is None or step is None:
            return
        from torchestimator.parallel.sharded._files import ShardSet, staging_dir, write_rank_files

        staging = staging_dir(model_dir, step)
        self.barrier()
        if self.is_chief and staging.exists():
            shutil.rmtree(staging)
        self.barrier()
        pieces: list[dict[str, Any]] = []
        tensors: dict[str, torch.Tensor] = {}
        for group in self._groups:
            group.local_pieces(pieces, tensors)
        write_rank_files(staging, self.rank, self.world_size, step, pieces, tensors)
        self.barrier()
        tables = {g.state_key: g.table_entry() for g in self._groups}
        self._pending = ShardSet(staging, self.world_size, int(step), tables) if self.is_chief else None

    def _count_steps(self) -> None:
        steps, self._steps_since_sync = self._steps_since_sync, 0
        for group in self._groups:
            group.opt_step += steps

    def checkpoint_shards(self) -> Any:
        """The shard files the chief's save adopts (then forgotten: one save adopts them once)."""
        pending, self._pending = self._pending, None
        return pending

    def finish_train(self, saved: bool) -> bool:
        """End of ``train()``: the layers' full tables come back for EVAL / PREDICT / export in this process.

        With a final checkpoint (``saved``) the tables get uninitialised full-size storage and the Estimator reloads
        the checkpoint (assembled from the shard files) when it next needs the weights; without one the shards are
        gathered over the ranks (every rank takes part). Either needs the full table's memory on every rank again.
        """
        if not self._groups:
            return False
        self._count_steps()
        for group in self._groups:
            if saved:
                group.placeholder_to_storage()
            else:
                group.gather_into_module()
        return saved

    def teardown(self) -> None:
        for group in self._groups:
            group.layer.sharded_lookups.clear()
        self._groups = []
        super().teardown()
