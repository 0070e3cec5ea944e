"""``VocabInfo`` and the row remapping of a variable whose vocabulary changed (TF's warm-start remap).

A new variable's rows (``axis=0``) or columns (``axis=1``) follow the new vocabulary, then
``num_oov_buckets`` OOV rows::

    new vocab        ["c", "a", "z"] + 1 OOV bucket      old vocab ["a", "b", "c"]
    new row 0  "c"   <- old row 2
    new row 1  "a"   <- old row 0
    new row 2  "z"   <- backup_initializer   (not in the old vocabulary)
    new row 3  OOV   <- backup_initializer   (OOV rows are never copied, as in TF)

A vocabulary is a file path (one entry per line; the whole line, without its newline, is the key,
as TF's ``TextFileInitializer`` reads it) or a list of strings.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy as np
import torch

from torchestimator.errors import InvalidArgumentError

__all__ = ["KEEP_INITIAL", "RowRemap", "VocabInfo", "load_vocab", "plan_remap"]

Vocab = Union[str, "os.PathLike[str]", Sequence[str]]

KEEP_INITIAL = "keep"  # backup_initializer value: leave unmatched rows as the module initialised them


@dataclasses.dataclass(frozen=True)
class VocabInfo:
    """How to warm-start a variable whose vocabulary changed (tf.estimator.VocabInfo).

    Args:
        new_vocab: the new vocabulary: a file path (one entry per line) or a list of strings.
        new_vocab_size: how many entries of ``new_vocab`` the variable uses (its first rows).
        num_oov_buckets: OOV rows after the vocabulary rows in the new variable.
        old_vocab: the vocabulary the checkpointed variable was trained with.
        old_vocab_size: how many entries of ``old_vocab`` were used; -1 (default) means all of them.
        backup_initializer: values for rows with no old counterpart (new words and OOV rows): None
            (default) gives zeros, as TF; a callable ``fn(shape) -> array or tensor`` called with the
            whole new variable's shape (rows are taken from its output); or ``"keep"`` to leave those
            rows as the module initialised them.
        axis: 0 (default) remaps rows, e.g. an embedding or a linear model's weights; 1 remaps
            columns, e.g. an output layer over a label vocabulary.

    Raises:
        InvalidArgumentError: a bad size, axis or backup_initializer.

    Example:
        >>> info = VocabInfo(["c", "a", "z"], 3, 1, ["a", "b", "c"])
        >>> info.old_vocab_size
        -1
    """

    new_vocab: Vocab
    new_vocab_size: int
    num_oov_buckets: int
    old_vocab: Vocab
    old_vocab_size: int = -1  # -1: the whole old vocabulary
    backup_initializer: Callable[[tuple[int, ...]], Any] | str | None = None  # None: zeros (TF)
    axis: int = 0  # 0: rows, 1: columns

    def __post_init__(self) -> None:
        if self.axis not in (0, 1):
            raise InvalidArgumentError(
                f"VocabInfo: the only supported values for axis are 0 and 1; received axis={self.axis!r}."
            )
        for name in ("new_vocab_size", "num_oov_buckets"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise InvalidArgumentError(f"VocabInfo: {name} must be an int >= 0; received {value!r}.")
        if (
            isinstance(self.old_vocab_size, bool)
            or not isinstance(self.old_vocab_size, (int, np.integer))
            or self.old_vocab_size < -1
        ):
            raise InvalidArgumentError(
                f"VocabInfo: old_vocab_size must be -1 (the whole vocabulary) or an int >= 0; received {self.old_vocab_size!r}."
            )
        init = self.backup_initializer
        if init is not None and not callable(init) and init != KEEP_INITIAL:
            raise InvalidArgumentError(
                f"VocabInfo: backup_initializer must be None (zeros), a callable fn(shape) or {KEEP_INITIAL!r}; "
                f"received {init!r}."
            )
        for name in ("new_vocab", "old_vocab"):
            _check_vocab_type(name, getattr(self, name))

    def replace(self, **changes: Any) -> VocabInfo:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


def _check_vocab_type(name: str, vocab: Any) -> None:
    if isinstance(vocab, (str, os.PathLike)):
        return
    if isinstance(vocab, (list, tuple)) and all(isinstance(v, str) for v in vocab):
        return
    raise InvalidArgumentError(
        f"VocabInfo: {name} must be a vocabulary file path or a list of strings; received {type(vocab).__name__}."
    )


def load_vocab(vocab: Vocab, size: int, what: str) -> list[str]:
    """The first ``size`` entries of ``vocab`` (all of them when ``size`` is -1).

    Raises:
        InvalidArgumentError: the file is missing, has fewer entries than ``size``, or repeats an entry.
    """
    if isinstance(vocab, (str, os.PathLike)):
        where = f"{what} file {os.fspath(vocab)!r}"
        try:
            with open(vocab, encoding="utf-8") as f:
                entries = f.read().split("\n")
        except OSError as err:
            raise InvalidArgumentError(f"VocabInfo: cannot read {where}: {err}.") from None
        if entries and entries[-1] == "":
            entries.pop()  # the final newline ends the last line; it does not start an empty one
    else:
        where = f"{what} list"
        entries = list(vocab)
    if size > len(entries):
        raise InvalidArgumentError(
            f"VocabInfo: {what}_size is {size} but the {where} has only {len(entries)} entries; "
            f"declare {what}_size <= {len(entries)} or use the vocabulary the variable was built with."
        )
    used = entries if size == -1 else entries[:size]
    seen: dict[str, int] = {}
    for i, word in enumerate(used):
        if word in seen:
            raise InvalidArgumentError(
                f"VocabInfo: the {where} repeats {word!r} (entries {seen[word]} and {i}); entries must be unique."
            )
        seen[word] = i
    return used


@dataclasses.dataclass(frozen=True)
class RowRemap:
    """A checked remap: new rows ``dst`` take old rows ``src`` (on ``axis``); the rest get the backup."""

    info: VocabInfo
    name: str
    dst: list[int]
    src: list[int]

    def apply(self, new: torch.Tensor, old: torch.Tensor) -> None:
        """Write into ``new`` in place (the shapes were checked by :func:`plan_remap`)."""
        new_t, old_t = (
            (new, old) if self.info.axis == 0 else (new.transpose(0, 1), old.transpose(0, 1))
        )  # rows first
        with torch.no_grad():
            init = self.info.backup_initializer
            if init is None:
                new_t.zero_()
            elif init != KEEP_INITIAL:
                assert callable(init)  # validated by VocabInfo
                value = torch.as_tensor(np.asarray(init(tuple(new.shape))), dtype=new.dtype)
                if tuple(value.shape) != tuple(new.shape):
                    raise InvalidArgumentError(
                        f"warm start {self.name!r}: backup_initializer returned shape {list(value.shape)}; "
                        f"expected {list(new.shape)}."
                    )
                new.copy_(value)
            if self.dst:
                dst = torch.tensor(self.dst, dtype=torch.long, device=new.device)
                src = torch.tensor(self.src, dtype=torch.long, device=old.device)
                new_t[dst] = old_t[src].to(device=new.device, dtype=new.dtype)


def plan_remap(new: torch.Tensor, old: torch.Tensor, info: VocabInfo, name: str, old_name: str) -> RowRemap:
    """Check ``info`` against both variables and pair new rows (or columns) with old ones by word.

    Args:
        new: the new variable (a view of the module's tensor).
        old: the checkpointed variable.
        info: the vocabularies and sizes.
        name: the new variable's name (for errors).
        old_name: the checkpointed variable's name (for errors).

    Returns:
        The plan; ``plan.apply(new, old)`` writes it.

    Raises:
        InvalidArgumentError: sizes that do not match the variables, or vocabularies that do not
            match their declared sizes.
    """
    axis = info.axis
    if new.dim() <= axis or old.dim() <= axis:
        raise InvalidArgumentError(
            f"warm start {name!r}: VocabInfo axis={axis} needs a tensor with more than {axis} dimensions; "
            f"received shapes {list(new.shape)} (new) and {list(old.shape)} (checkpoint)."
        )
    new_vocab = load_vocab(info.new_vocab, info.new_vocab_size, "new_vocab")
    old_vocab = load_vocab(info.old_vocab, info.old_vocab_size, "old_vocab")
    expected = info.new_vocab_size + info.num_oov_buckets
    if new.shape[axis] != expected:
        raise InvalidArgumentError(
            f"warm start {name!r}: the variable has {new.shape[axis]} entries on axis {axis} but VocabInfo declares "
            f"new_vocab_size + num_oov_buckets = {info.new_vocab_size} + {info.num_oov_buckets} = {expected}."
        )
    if old.shape[axis] < len(old_vocab):
        raise InvalidArgumentError(
            f"warm start {name!r}: checkpoint variable {old_name!r} has {old.shape[axis]} entries on axis {axis}, "
            f"fewer than the {len(old_vocab)} entries of old_vocab; check old_vocab / old_vocab_size."
        )
    other = (
        [d for i, d in enumerate(new.shape) if i != axis],
        [d for i, d in enumerate(old.shape) if i != axis],
    )
    if other[0] != other[1]:
        raise InvalidArgumentError(
            f"warm start {name!r}: apart from axis {axis}, shape {list(new.shape)} does not match checkpoint "
            f"{old_name!r} of shape {list(old.shape)}."
        )
    old_index = {w: i for i, w in enumerate(old_vocab)}
    pairs = [(i, old_index[w]) for i, w in enumerate(new_vocab) if w in old_index]
    return RowRemap(info, name, [p[0] for p in pairs], [p[1] for p in pairs])
