"""Tables built without their memory: TF's initial values drawn again, region by region, from the same RNG stream.

Under the sharded strategy a ``DenseFeatures`` table group is not allocated when the model is built. The random
stream is still consumed exactly as the eager build consumes it (``nn.EmbeddingBag``'s ``normal_`` fill, then
``trunc_normal_`` per table), chunk by chunk, so every later draw (the dense tower, other layers) is unchanged; the
generator state before each table's draw is kept (a few KB), and each rank later draws the rows / columns its
shards hold from it (:func:`draw_rows`), again chunk by chunk. The layer's parameter meanwhile is a placeholder:
the table's shape over one element (a stride-0 view).

torch 2.13's ``trunc_normal_`` (the ``p > 0.3`` branch TF's +-2 std bounds take) fills the whole tensor with
``normal_`` and redraws the *whole tensor* while any value is out of bounds, replacing only those; ``normal_``
fills blocks of 16 (Box-Muller within a block; a tail that is not a multiple of 16 redraws the last 16). The chunked
emulation keeps those rules: chunks are multiples of 16 except the last, which keeps the tail, and every round
redraws all elements, keeping the out-of-bounds indices only. :func:`emulation_matches` checks the emulation
against the eager draw once per process; if torch ever draws differently, tables are built eagerly (a warning).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch

__all__ = ["TableDraw", "deferred_tables", "deferring", "draw_rows", "emulation_matches", "skip_group_draws"]

logger = logging.getLogger("torchestimator")

_ACTIVE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "torchestimator_deferred_tables", default=False
)
_CHUNK = 1 << 18  # elements per generated chunk (a multiple of 16)
_CHECKED: list[bool] = []


@dataclasses.dataclass
class TableDraw:
    """One table's initial draw: its rows in the group, and the generator state its ``trunc_normal_`` starts from."""

    start: int
    rows: int
    dim: int
    std: float
    state: torch.Tensor


@contextlib.contextmanager
def deferred_tables() -> Iterator[None]:
    """Inside, ``DenseFeatures`` builds eligible table groups as placeholders (see the module docstring)."""
    token = _ACTIVE.set(emulation_matches())
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def deferring() -> bool:
    return _ACTIVE.get()


def _chunks(n: int) -> Iterator[tuple[int, int]]:
    start = 0
    while n - start > _CHUNK + 16:
        yield start, start + _CHUNK
        start += _CHUNK
    yield start, n


def _bounds(std: float) -> tuple[float, float]:
    lo = torch.tensor(-2 * std, dtype=torch.float32).item()
    hi = torch.tensor(2 * std, dtype=torch.float32).item()
    return lo, hi


def _advance_normal(gen: torch.Generator, n: int) -> None:
    for s, e in _chunks(n):
        torch.empty(e - s).normal_(generator=gen)


def _trunc_normal(
    gen: torch.Generator, n: int, std: float, keep: tuple[int, int] | None, out: torch.Tensor | None = None
) -> torch.Tensor | None:
    """Emulate ``trunc_normal_(empty(n), 0, std, -2 std, 2 std)`` on ``gen``; return elements ``keep`` (flat), written
    into ``out`` when given (``keep``'s length)."""
    lo, hi = _bounds(std)
    k0, k1 = keep if keep is not None else (0, 0)
    if keep is not None and out is None:
        out = torch.empty(k1 - k0)
    rejected: torch.Tensor | None = None
    while True:
        found = []
        for s, e in _chunks(n):
            x = torch.empty(e - s).normal_(0.0, std, generator=gen)
            if rejected is None:  # the first fill: every element
                if out is not None and max(s, k0) < min(e, k1):
                    out[max(s, k0) - k0 : min(e, k1) - k0] = x[max(s, k0) - s : min(e, k1) - s]
                found.append(((x < lo) | (x > hi)).nonzero().view(-1) + s)
                continue
            idx = rejected[torch.searchsorted(rejected, s) : torch.searchsorted(rejected, e)]
            vals = x[idx - s]
            if out is not None:
                inside = (idx >= k0) & (idx < k1)
                out[idx[inside] - k0] = vals[inside]
            found.append(idx[(vals < lo) | (vals > hi)])
        rejected = torch.cat(found)
        if not rejected.numel():
            return out


def skip_group_draws(rows: int, dim: int, tables: list[tuple[int, int, Any]]) -> list[TableDraw]:
    """Consume the default generator as an eager group build does; return each table's draw (to redo later)."""
    gen = torch.default_generator
    _advance_normal(gen, rows * dim)  # nn.EmbeddingBag's reset_parameters
    draws = []
    for start, nrows, column in tables:
        std = 1.0 / math.sqrt(column.dimension)
        draws.append(TableDraw(start, nrows, dim, std, gen.get_state()))
        _trunc_normal(gen, nrows * dim, std, None)
    return draws


def draw_rows(draw: TableDraw, first: int, count: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """Rows ``[first, first + count)`` (table-local) of the table's initial values, ``(count, dim)``; drawn straight
    into ``out`` (contiguous ``(count, dim)``, e.g. a row-wise shard) when given."""
    gen = torch.Generator()
    gen.set_state(draw.state)
    flat = out.view(-1) if out is not None else None
    values = _trunc_normal(
        gen, draw.rows * draw.dim, draw.std, (first * draw.dim, (first + count) * draw.dim), flat
    )
    assert values is not None
    return values.view(count, draw.dim)


def emulation_matches() -> bool:
    """Whether the chunked emulation reproduces torch's eager draw (checked once per process, on a small group)."""
    if not _CHECKED:
        global _CHUNK
        saved_chunk, _CHUNK = _CHUNK, 64  # several chunks and a tail on a small table
        state = torch.get_rng_state()
        try:
            torch.default_generator.manual_seed(1234)  # the CPU stream only (CUDA generators untouched)
            bag = torch.nn.EmbeddingBag(301, 4)
            std = 0.5
            eager = torch.nn.init.trunc_normal_(torch.empty(301, 4), 0.0, std, -2 * std, 2 * std)
            after_eager = torch.get_rng_state()
            torch.default_generator.manual_seed(1234)  # the CPU stream only (CUDA generators untouched)
            column = type("C", (), {"dimension": 4})()
            (draw,) = skip_group_draws(301, 4, [(0, 301, column)])
            ok = torch.equal(torch.get_rng_state(), after_eager) and torch.equal(
                draw_rows(draw, 17, 250), eager[17:267]
            )
            del bag
        finally:
            _CHUNK = saved_chunk
            torch.set_rng_state(state)
        if not ok:
            logger.warning(
                "torch %s draws truncated-normal tables differently from the emulation the sharded strategy uses to "
                "build tables without their memory; tables are built eagerly (full size on every rank at startup).",
                torch.__version__,
            )
        _CHECKED.append(ok)
    return _CHECKED[0]


# ---- DenseFeatures side --------------------------------------------------------------------------------


def is_placeholder(t: torch.Tensor) -> bool:
    """A table without its memory: its shape over one element (every stride 0)."""
    return t.dim() > 0 and t.numel() > 1 and all(s == 0 for s in t.stride())


def placeholder(shape: tuple[int, ...], like: torch.Tensor | None = None) -> torch.Tensor:
    dtype = like.dtype if like is not None else torch.float32
    device = like.device if like is not None else None
    return torch.zeros(1, dtype=dtype, device=device).expand(*shape)


def deferred_bag(layer: Any, group: Any) -> torch.nn.EmbeddingBag | None:
    """The group's ``EmbeddingBag`` over a placeholder (draws skipped, kept in ``layer.deferred_draws``), or None
    when tables are built eagerly (not under the sharded strategy, or a table with its own initializer / checkpoint,
    a frozen or clipped group: those are never sharded)."""
    if not deferring() or not group.trainable or group.max_norm is not None:
        return None
    tables = list(group.tables.values())
    if any(c.initializer is not None or c.ckpt_to_load_from is not None for _, _, c in tables):
        return None
    layer.deferred_draws[group.key] = skip_group_draws(group.rows, group.dimension, tables)
    layer.materialise_deferred = materialise
    weight = placeholder((group.rows, group.dimension))
    bag = torch.nn.EmbeddingBag(group.rows, group.dimension, mode="sum", sparse=True, _weight=weight)
    if not layer.deferred_hooks:
        layer._register_load_state_dict_pre_hook(_skip_placeholder_loads, with_module=True)
        layer.register_load_state_dict_post_hook(_forget_skipped)
        layer.deferred_hooks = True
    return bag


def materialise(layer: Any, key: str) -> None:
    """Draw a deferred group's whole table into real storage (a table used outside the shards)."""
    weight = layer.embedding_tables[key].weight
    full = torch.empty(weight.shape, dtype=weight.dtype)
    for draw in layer.deferred_draws.pop(key):
        full[draw.start : draw.start + draw.rows] = draw_rows(draw, 0, draw.rows)
    weight.data = full.to(weight.device)


def _skip_placeholder_loads(module: Any, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """Loading into a placeholder table: a placeholder (a sharded restore: the shards read their rows) is skipped;
    a real table gets storage first (its draws are forgotten: the checkpoint's values win)."""
    module.skipped_loads = []
    for key, bag in module.embedding_tables.items():
        name = f"{prefix}embedding_tables.{key}.weight"
        if name not in state_dict or not is_placeholder(bag.weight):
            continue
        if is_placeholder(state_dict[name]):
            state_dict.pop(name)
            module.skipped_loads.append(name)
        else:
            module.deferred_draws.pop(key, None)
            bag.weight.data = torch.empty(bag.weight.shape, dtype=bag.weight.dtype, device=bag.weight.device)


def _forget_skipped(module: Any, incompatible: Any) -> None:
    for name in getattr(module, "skipped_loads", []):
        if name in incompatible.missing_keys:
            incompatible.missing_keys.remove(name)
    module.skipped_loads = []


def _weight_of(layer: Any, key: str) -> torch.Tensor:
    weight: torch.Tensor = layer.embedding_tables[key].weight
    return weight


def optimizers_without_table_state(
    module: torch.nn.Module, build: Callable[[], dict[str, torch.optim.Optimizer]]
) -> dict[str, torch.optim.Optimizer]:
    """Build the model_fn's optimizers with the placeholder tables on the meta device (so an eager optimizer such
    as Adagrad allocates no full-size accumulator), then drop that state: FBGEMM owns it for a sharded table. A
    table whose optimizer has no fused rule is drawn whole, and its optimizer state made as the optimizer makes it.
    """
    from torchestimator.columns import DenseFeatures
    from torchestimator.parallel.sharded._optim import fused_rule

    tables: list[tuple[Any, str, torch.Tensor]] = [
        (layer, key, _weight_of(layer, key))
        for layer in module.modules()
        if isinstance(layer, DenseFeatures)
        for key in layer.deferred_draws
    ]
    stand_ins = [
        torch.nn.Parameter(torch.empty(w.shape, dtype=w.dtype, device="meta"), requires_grad=w.requires_grad)
        for _, _, w in tables
    ]
    for (_, _, w), meta in zip(tables, stand_ins, strict=True):
        torch.utils.swap_tensors(
            w, meta
        )  # the same Parameter object, on the meta device while optimizers build
    try:
        optimizers = build()
    finally:
        for (_, _, w), meta in zip(tables, stand_ins, strict=True):
            torch.utils.swap_tensors(w, meta)
    from torchestimator.errors import InvalidArgumentError

    for layer, key, w in tables:
        for opt in optimizers.values():
            state = opt.state.get(w)
            if not state or not any(isinstance(v, torch.Tensor) and v.is_meta for v in state.values()):
                continue
            opt.state.pop(w)
            try:
                fused_rule(opt, w)
                mapped = layer.table_groups[key].dimension % 4 == 0
            except InvalidArgumentError:
                mapped = False
            if not mapped:  # stays replicated: the table and the optimizer's own initial state
                materialise(layer, key)
                group = next(g for g in opt.param_groups if any(p is w for p in g["params"]))
                fresh = type(opt)([w], **{k: v for k, v in group.items() if k != "params"})
                if w in fresh.state:
                    opt.state[w] = fresh.state[w]
    return optimizers
