"""``cache``: keep the elements of the first complete pass, in memory or in a file.

As in TF, an iteration that stops early does not fill the cache; the first complete one does, and
later iterations replay it without running the input again. With ``filename``, the elements go to
``<filename>.npz`` — plain arrays read back with ``allow_pickle=False`` (strings as UTF-8 / raw bytes plus
offsets, the element structure as JSON), never a pickle — and a later dataset (another process, the next
``train`` call) built with the same ``filename`` reads that file instead of its input.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from torchestimator.data._block import Block, concat_blocks, stack_leaves
from torchestimator.data._dataset import Dataset
from torchestimator.data._nodes import register_nodes
from torchestimator.data._structure import LEAF, flatten
from torchestimator.data._transforms import Unary
from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.parsing import Ragged

__all__ = ["Cache", "load_cache_file", "save_cache_file"]


def _tree_to_json(tree: Any) -> Any:
    if tree == LEAF:
        return LEAF
    kind, meta, children = tree
    if kind == "namedtuple":
        raise InvalidArgumentError(
            "cache(filename) stores dict / tuple elements; convert the namedtuple to a tuple or dict first."
        )
    if kind == "dict" and not all(isinstance(k, str) for k in meta):
        raise InvalidArgumentError(f"cache(filename) needs string dict keys; received {list(meta)}.")
    return {
        "kind": kind,
        "keys": list(meta) if meta else None,
        "children": [_tree_to_json(c) for c in children],
    }


def _tree_from_json(data: Any) -> Any:
    if data == LEAF:
        return LEAF
    keys = tuple(data["keys"]) if data["kind"] == "dict" else None
    return (data["kind"], keys, tuple(_tree_from_json(c) for c in data["children"]))


def _encode_strings(values: np.ndarray, prefix: str, out: dict[str, np.ndarray]) -> str:
    flat = values.reshape(-1)
    kind = "bytes" if flat.size and isinstance(flat[0], bytes) else "str"
    raw = [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in flat]
    lengths = np.fromiter((len(r) for r in raw), dtype=np.int64, count=len(raw))
    out[f"{prefix}/bytes"] = np.frombuffer(b"".join(raw), dtype=np.uint8)
    out[f"{prefix}/offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    out[f"{prefix}/shape"] = np.asarray(values.shape, dtype=np.int64)
    return kind


def _decode_strings(data: Any, prefix: str, kind: str) -> np.ndarray:
    buf = data[f"{prefix}/bytes"].tobytes()
    offsets = data[f"{prefix}/offsets"].tolist()
    out = np.empty(len(offsets) - 1, dtype=object)
    out[:] = [
        buf[a:b] if kind == "bytes" else buf[a:b].decode("utf-8") for a, b in itertools.pairwise(offsets)
    ]
    return out.reshape(tuple(data[f"{prefix}/shape"].tolist()))


def _store_column(column: Any, prefix: str, out: dict[str, np.ndarray]) -> dict[str, Any]:
    if isinstance(column, Ragged):
        out[f"{prefix}/splits"] = column.row_splits
        return {"ragged": True, "values": _store_column(column.values, f"{prefix}/values", out)}
    if column.dtype == object:
        return {"strings": _encode_strings(column, prefix, out)}
    out[prefix] = column
    return {}


def _load_column(data: Any, prefix: str, info: dict[str, Any]) -> Any:
    if info.get("ragged"):
        return Ragged(_load_column(data, f"{prefix}/values", info["values"]), data[f"{prefix}/splits"])
    if "strings" in info:
        return _decode_strings(data, prefix, info["strings"])
    return data[prefix]


def save_cache_file(path: str, block: Block) -> None:
    """Write ``block``'s elements to ``path`` (atomically: a temporary file, then a rename)."""
    arrays: dict[str, np.ndarray] = {}
    infos = [_store_column(c, f"leaf{i}", arrays) for i, c in enumerate(block.columns())]
    meta = {"format": "torchestimator.data.cache/1", "tree": _tree_to_json(block.tree), "leaves": infos}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds too narrowly
    os.replace(tmp, path)


def load_cache_file(path: str) -> Block:
    """Read a file written by :func:`save_cache_file` (no pickles: ``allow_pickle=False``).

    Raises:
        InputError: the file is not a torchestimator dataset cache.
    """
    with np.load(path, allow_pickle=False) as data:
        try:
            meta = json.loads(data["meta"].tobytes().decode("utf-8"))
        except (KeyError, ValueError) as err:
            raise InputError(f"{path!r} is not a torchestimator dataset cache (no readable 'meta').") from err
        if meta.get("format") != "torchestimator.data.cache/1":
            raise InputError(
                f"{path!r} has cache format {meta.get('format')!r}; expected torchestimator.data.cache/1."
            )
        columns = [_load_column(data, f"leaf{i}", info) for i, info in enumerate(meta["leaves"])]
    return Block(_tree_from_json(meta["tree"]), columns)


def _elements_to_block(elements: list[Any]) -> Block | None:
    if not elements:
        return None
    trees = set()
    leaves_per = []
    for e in elements:
        leaves, tree = flatten(e)
        trees.add(tree)
        leaves_per.append(leaves)
    if len(trees) > 1:
        raise InputError(
            "cache(filename): the elements have different structures; they cannot be stored together."
        )
    columns = [
        stack_leaves([lv[i] for lv in leaves_per], f"component {i}") for i in range(len(leaves_per[0]))
    ]
    return Block(trees.pop(), columns)


class Cache(Unary):
    """``cache(filename="")`` (see the module docstring)."""

    _keeps_elements = True

    def __init__(self, parent: Dataset, filename: Any) -> None:
        super().__init__(parent)
        self._path = f"{os.fspath(filename)}.npz" if filename else ""
        self._blocks_kept: list[Block] | None = None
        self._elements_kept: list[Any] | None = None

    def _vectorized(self) -> bool:
        if self._path and os.path.exists(self._path):
            return True
        return self._blocks_kept is not None or self._parent._vectorized()

    def _blocks(self) -> Iterator[Block]:
        if self._path and os.path.exists(self._path):
            block = load_cache_file(self._path)
            if len(block):
                yield block
            return
        if self._blocks_kept is not None:
            yield from self._blocks_kept
            return
        kept: list[Block] = []
        for block in self._parent._blocks():
            block = Block(block.tree, block.columns())
            kept.append(block)
            yield block
        self._finish(kept)

    def _finish(self, kept: list[Block]) -> None:
        if self._path:
            merged = concat_blocks(kept) if kept else None
            if merged is not None:
                save_cache_file(self._path, merged)
        else:
            self._blocks_kept = kept

    def _elements(self) -> Iterator[Any]:
        if self._vectorized():
            yield from super()._elements()
            return
        if self._elements_kept is not None:
            yield from self._elements_kept
            return
        kept = []
        for element in self._parent:
            kept.append(element)
            yield element
        if self._path:
            block = _elements_to_block(kept)
            if block is not None:
                save_cache_file(self._path, block)
        else:
            self._elements_kept = kept


register_nodes(Cache)
