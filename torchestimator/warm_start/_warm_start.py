"""Warm-starting a new model from an existing checkpoint (tf.estimator's ``warm_start_from``).

The Estimator applies it only when ``model_dir`` has no checkpoint yet (TF's rule): once the model
has a checkpoint of its own, that checkpoint wins. ``warm_start_from`` is:

* a model_dir (its newest checkpoint) or a ``model.ckpt-<step>`` path: the same as
  ``WarmStartSettings(path)``, i.e. every trainable variable, by name;
* a TF model_dir, TF checkpoint prefix (``model.ckpt-N``) or TF SavedModel directory (its
  ``variables/`` bundle), read without TensorFlow (:mod:`torchestimator.compat`): a pre-made model's
  variables are paired with TF's by :mod:`torchestimator.compat._tf_names` and keep our names here
  (Dense kernels transposed; a ``VocabInfo`` remaps TF's rows); every TF variable is also reachable
  by its TF name through ``var_name_to_prev_var_name``;
* a :class:`WarmStartSettings`.

Variables are named as in :mod:`torchestimator.warm_start._variables`: a plain tensor by its
``state_dict`` key, a feature column's table by ``"<layer path>/<table>/embedding_weights"``
(DenseFeatures / SequenceFeatures) or ``"<layer path>/<column>/weights"`` (LinearModel), so a column
whose vocabulary changed is remapped by :class:`VocabInfo` even inside a fused table.

``vars_to_warm_start`` follows TF (a regex is matched at the start of the name, like ``re.match``):

=====================  ==========================================================================
value                  variables warm-started
=====================  ==========================================================================
``'.*'`` (a string)    TRAINABLE variables matching it (``requires_grad`` parameters)
``['.*', ...]``        ALL variables matching any of them, buffers (BatchNorm statistics) and
                       frozen parameters included
``None``               only the variables named in ``var_name_to_vocab_info``
=====================  ==========================================================================

Unlike TF, a regex that matches no variable is an error (a typo would otherwise warm-start nothing
silently). As in TF, a selected variable missing from the checkpoint, or of another shape with no
``VocabInfo``, is an error; and so is a name in ``var_name_to_vocab_info`` /
``var_name_to_prev_var_name`` that is not among the selected variables. Optimizer slots are not
warm-started (TF's list form includes them): the new optimizer starts fresh.

Example:
    >>> import torch, tempfile
    >>> from torchestimator import checkpoint
    >>> old = torch.nn.Linear(2, 1)
    >>> d = tempfile.mkdtemp()
    >>> _ = checkpoint.save_checkpoint(d, 0, old.state_dict(), {})
    >>> new = torch.nn.Linear(2, 1)
    >>> warm_start(new, WarmStartSettings(d, vars_to_warm_start="weight"))
    ['weight']
    >>> bool(torch.equal(new.weight, old.weight))
    True
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, Union

import torch

from torchestimator import checkpoint as ckpt_lib
from torchestimator.errors import CheckpointMismatchError, InvalidArgumentError, did_you_mean
from torchestimator.warm_start._variables import WarmStartVariable, checkpoint_variables, module_variables
from torchestimator.warm_start._vocab_remap import KEEP_INITIAL, RowRemap, VocabInfo, plan_remap

__all__ = ["KEEP_INITIAL", "VocabInfo", "WarmStartSettings", "warm_start"]

logger = logging.getLogger("torchestimator")

VarsToWarmStart = Union[str, Sequence[str], None]  # noqa: UP007 - a runtime alias


@dataclasses.dataclass(frozen=True)
class WarmStartSettings:
    """What to warm-start from where (tf.estimator.WarmStartSettings).

    Args:
        ckpt_to_initialize_from: a model_dir (its newest checkpoint) or a ``model.ckpt-<step>`` path, ours
            or TF's, or a TF SavedModel directory.
        vars_to_warm_start: a regex (trainable variables only), a list of regexes (all variables,
            buffers included) or None (only ``var_name_to_vocab_info``'s); see the module docstring.
        var_name_to_vocab_info: variable name -> :class:`VocabInfo` for variables whose vocabulary changed.
        var_name_to_prev_var_name: variable name -> its name in the checkpoint, where it was renamed.

    Raises:
        InvalidArgumentError: a value of the wrong type.

    Example:
        >>> WarmStartSettings("/tmp/old_model", vars_to_warm_start=[".*"]).vars_to_warm_start
        ['.*']
    """

    ckpt_to_initialize_from: str | os.PathLike[str]
    vars_to_warm_start: VarsToWarmStart = ".*"  # a str: trainable only; a list: everything
    var_name_to_vocab_info: Mapping[str, VocabInfo] | None = None
    var_name_to_prev_var_name: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.ckpt_to_initialize_from, (str, os.PathLike)) or not os.fspath(
            self.ckpt_to_initialize_from
        ):
            raise InvalidArgumentError(
                "WarmStartSettings: ckpt_to_initialize_from must be a non-empty model_dir or checkpoint path; "
                f"received {self.ckpt_to_initialize_from!r}."
            )
        v = self.vars_to_warm_start
        if not (
            v is None
            or isinstance(v, str)
            or (isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v))
        ):
            raise InvalidArgumentError(
                "WarmStartSettings: vars_to_warm_start must be a regex string, a list of regex strings or None; "
                f"received {v!r}."
            )
        for name, want in (("var_name_to_vocab_info", VocabInfo), ("var_name_to_prev_var_name", str)):
            mapping = getattr(self, name)
            if mapping is None:
                continue
            bad = {
                k: type(val).__name__
                for k, val in dict(mapping).items()
                if not isinstance(k, str) or not isinstance(val, want)
            }
            if bad:
                raise InvalidArgumentError(
                    f"WarmStartSettings: {name} must map variable names to {want.__name__}; bad entries: {bad}."
                )

    def replace(self, **changes: Any) -> WarmStartSettings:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


def _settings(warm_start_from: Any) -> WarmStartSettings:
    if isinstance(warm_start_from, WarmStartSettings):
        return warm_start_from
    if isinstance(warm_start_from, (str, os.PathLike)):
        return WarmStartSettings(warm_start_from)
    raise InvalidArgumentError(
        "warm_start_from must be a model_dir, a checkpoint path or a WarmStartSettings; received "
        f"{type(warm_start_from).__name__}."
    )


def _select(variables: Mapping[str, WarmStartVariable], spec: VarsToWarmStart) -> list[str]:
    """Names selected by ``vars_to_warm_start`` (sorted); a regex matching nothing is an error."""
    if spec is None or isinstance(spec, str):
        candidates = sorted(n for n, v in variables.items() if v.trainable)
        regexes = [spec if spec is not None else ".*"]
        scope = "trainable variable"
    else:
        candidates = sorted(variables)
        regexes = list(spec)
        scope = "variable"
    selected: set[str] = set()
    for pattern in regexes:
        try:
            compiled = re.compile(pattern)
        except re.error as err:
            raise InvalidArgumentError(
                f"vars_to_warm_start: {pattern!r} is not a valid regex: {err}."
            ) from None
        hits = [n for n in candidates if compiled.match(n)]
        if not hits and spec is not None:
            also = [n for n in variables if compiled.match(n) and n not in candidates]
            hint = (
                f" It matches non-trainable {also[:5]}: a string selects trainable variables only; pass a list "
                f"[{pattern!r}] to include buffers and frozen parameters."
                if also
                else ""
            )
            raise InvalidArgumentError(
                f"vars_to_warm_start regex {pattern!r} matches no {scope} (matched at the start of the name, like "
                f"re.match); {scope}s: {candidates[:20]}{' …' if len(candidates) > 20 else ''}.{hint}"
            )
        selected.update(hits)
    return sorted(selected)


def _source(
    path: str | os.PathLike[str], module: torch.nn.Module, new_vars: dict[str, WarmStartVariable]
) -> tuple[Mapping[str, Any], dict[str, WarmStartVariable], str]:
    """(tensors by key, variables by name, source path) of our checkpoint, or of a TF one / SavedModel."""
    from torchestimator.compat._tf_bundle import is_tf_checkpoint

    if is_tf_checkpoint(path):
        from torchestimator.compat._warm_start import tf_warm_start_source

        return tf_warm_start_source(path, module, new_vars)
    state = ckpt_lib.load_checkpoint(path)
    return state.model, checkpoint_variables(state.model, str(state.path)), str(state.path)


def warm_start(module: torch.nn.Module, warm_start_from: Any) -> list[str]:
    """Initialise ``module``'s variables from a checkpoint; returns the names warm-started.

    Args:
        module: the model to initialise, in place.
        warm_start_from: a model_dir, a checkpoint path or a :class:`WarmStartSettings`.

    Returns:
        The sorted names of the variables written.

    Raises:
        InvalidArgumentError: bad settings, a regex matching nothing, unused vocab-info or rename
            entries, or vocabularies that do not match their declared sizes.
        CheckpointNotFoundError: nothing to load at ``ckpt_to_initialize_from``.
        CheckpointMismatchError: a selected variable missing from the checkpoint, or of another shape.
    """
    settings = _settings(warm_start_from)
    new_vars = module_variables(module)
    old_state, old_vars, source = _source(settings.ckpt_to_initialize_from, module, new_vars)
    vocab_infos = dict(settings.var_name_to_vocab_info or {})
    renames = dict(settings.var_name_to_prev_var_name or {})
    selected = _select(new_vars, settings.vars_to_warm_start)

    for label, mapping in (("var_name_to_vocab_info", vocab_infos), ("var_name_to_prev_var_name", renames)):
        unused = sorted(set(mapping) - set(selected))
        if unused:
            raise InvalidArgumentError(
                f"WarmStartSettings: {label} names variables that are not warm-started: {unused}"
                f"{did_you_mean(unused[0], new_vars)}. Perhaps you misspelled them, or vars_to_warm_start "
                f"excludes them? Variables selected: {selected[:20]}{' …' if len(selected) > 20 else ''}."
            )

    live = module.state_dict(keep_vars=True)
    plan: list[
        tuple[str, torch.Tensor, torch.Tensor, RowRemap | None]
    ] = []  # everything checked before any write
    for name in selected:
        info = vocab_infos.get(name)
        if info is None and settings.vars_to_warm_start is None:
            continue  # None: only the variables with a VocabInfo
        var = new_vars[name]
        old_name = renames.get(name, name)
        if old_name not in old_vars:
            raise CheckpointMismatchError(
                f"warm start: variable {old_name!r} (for {name!r}) is not in checkpoint {source}"
                f"{did_you_mean(old_name, old_vars)}. Narrow vars_to_warm_start, or map the name with "
                "var_name_to_prev_var_name."
            )
        old_var = old_vars[old_name]
        old = old_var.view(old_state[old_var.key])
        new = var.view(live[var.key])
        if info is None and tuple(new.shape) != tuple(old.shape):
            raise CheckpointMismatchError(
                f"warm start: variable {name!r} has shape {list(new.shape)} but {old_name!r} in checkpoint {source} "
                f"has shape {list(old.shape)}. If its vocabulary changed, give a VocabInfo in "
                "var_name_to_vocab_info; otherwise leave it out of vars_to_warm_start."
            )
        plan.append(
            (name, new, old, plan_remap(new, old, info, name, old_name) if info is not None else None)
        )
    for _name, new, old, remap in plan:
        if remap is not None:
            remap.apply(new, old)
        else:
            with torch.no_grad():
                new.copy_(old)
    written = [name for name, *_ in plan]
    logger.info("Warm-started %d variables from %s: %s", len(written), source, written)
    return written
