"""``import_tf_checkpoint``: a TF checkpoint's weights and optimizer slots into a torchestimator model.

::

    TF model_dir / model.ckpt-N / SavedModel ──TFBundle──► {TF name: array}
        │ bindings (pre-made: _tf_names; custom module: name_map)     kernels transposed, rows of fused tables
        ▼
    module tensors  +  optimizer state (Adagrad sum, FTRL accumulator/linear, Adam m/v/step, RMSProp rms...)
        │ save_checkpoint(model_dir, global_step)
        ▼
    model_dir/model.ckpt-N/   (the Estimator resumes from it: train continues at step N as TF's would)

Every binding is checked before anything is written: a TF variable that is missing, has another shape,
or (for a pre-made) is not used by the model is listed by name with the TF shape and ours.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from torchestimator import checkpoint as ckpt_lib
from torchestimator.compat._report import ImportReport
from torchestimator.compat._slots import load_slots
from torchestimator.compat._tf_bundle import TFBundle
from torchestimator.compat._tf_names import Binding, module_bindings, name_map_bindings
from torchestimator.errors import CheckpointError, CheckpointMismatchError, InvalidArgumentError

__all__ = ["ImportReport", "Resolution", "import_tf_checkpoint", "resolve_bindings", "tf_model_variables"]

logger = logging.getLogger("torchestimator")
_TF1_OPTIMIZER_VARS = re.compile(r"^(.*/)?(beta1_power|beta2_power)(_\d+)?$")  # TF 1 Adam's bias corrections


def tf_model_variables(bundle: TFBundle) -> list[str]:
    """The TF checkpoint's model variables: not ``global_step``, not optimizer slots or hyper-parameters."""
    names = bundle.names()
    found = set(names)
    out = []
    for name in names:
        if name == "global_step" or name.startswith("training/") or _TF1_OPTIMIZER_VARS.match(name):
            continue
        parts = name.split("/")
        if any("/".join(parts[:i]) in found for i in range(1, len(parts))):
            continue  # a TF 1 slot: "<variable>/Adagrad", "<variable>/t_0/Adagrad", ...
        out.append(name)
    return out


def _oriented_shape(shape: tuple[int, ...], binding: Binding) -> tuple[int, ...]:
    return tuple(reversed(shape)) if binding.transpose else shape


@dataclasses.dataclass
class Resolution:
    """Bindings paired with the TF variables present for them, and what did not pair."""

    resolved: list[tuple[Binding, str]] = dataclasses.field(default_factory=list)
    missing: list[str] = dataclasses.field(default_factory=list)  # ours without a TF variable
    mismatched: list[str] = dataclasses.field(default_factory=list)  # TF shape vs ours
    extra: list[str] = dataclasses.field(default_factory=list)  # TF model variables no binding names


def resolve_bindings(bundle: TFBundle, module: torch.nn.Module, bindings: list[Binding]) -> Resolution:
    """Pair each binding with the TF variable present for it, and describe every mismatch by name."""
    shapes = bundle.shapes()
    own = module.state_dict(keep_vars=True)
    out = Resolution()
    for b in bindings:
        want = tuple(b.view(own[b.key]).shape)
        name = next((n for n in b.tf_names if n in shapes), None)
        if name is None:
            out.missing.append(
                f"{b.tf_name}: missing from the TF checkpoint (ours: {b.our_name} {list(want)})"
            )
        elif _oriented_shape(shapes[name], b) != want:
            out.mismatched.append(
                f"{name}: TF shape {list(shapes[name])} vs ours {list(want)} ({b.our_name})"
            )
        else:
            out.resolved.append((b, name))
    named = {n for b in bindings for n in b.tf_names}
    out.extra = [
        f"{n}: in the TF checkpoint {list(shapes[n])}, not in the model"
        for n in tf_model_variables(bundle)
        if n not in named
    ]
    return out


def _mismatch(bundle: TFBundle, module: torch.nn.Module, problems: list[str]) -> CheckpointMismatchError:
    listing = "\n".join(f"  - {p}" for p in problems)
    return CheckpointMismatchError(
        f"TF checkpoint {bundle.prefix} does not match the model ({type(module).__name__}); "
        f"{len(problems)} variable(s) differ:\n{listing}\nBuild the estimator with the feature columns, "
        "hidden_units, n_classes / label_dimension and batch_norm the TF model was trained with; for a "
        "custom model pass name_map={TF name or regex: our state_dict key}; strict=False loads what matches."
    )


def _unwritten(
    own: Mapping[str, Any], written: Mapping[str, np.ndarray], unloaded: list[Binding]
) -> list[str]:
    """Our tensors (or row ranges) no TF variable was written to: a column's rows by its binding."""
    out = []
    marked = {key: mask.copy() for key, mask in written.items()}
    for b in unloaded:  # e.g. one column's rows of a fused table: named as the binding names them
        rows = own[b.key].shape[0] if own[b.key].dim() else 1
        mask = marked.setdefault(b.key, np.zeros(rows, dtype=bool))
        if not mask[b.start : b.start + (b.rows if b.rows is not None else rows)].any():
            out.append(b.our_name)
            mask[b.start : b.start + (b.rows if b.rows is not None else rows)] = True
    for key, value in own.items():
        if not isinstance(value, torch.Tensor):
            continue
        covered = marked.get(key)
        if covered is None:
            out.append(key)
        elif not covered.all():
            rows = np.flatnonzero(~covered)
            breaks = np.flatnonzero(np.diff(rows) > 1)
            starts = [rows[0], *rows[breaks + 1]]
            ends = [*rows[breaks], rows[-1]]
            out += [f"{key}[{s}:{e + 1}]" for s, e in zip(starts, ends)]
    return sorted(out)


def load_tf_weights(
    bundle: TFBundle,
    module: torch.nn.Module,
    *,
    name_map: Mapping[str, str] | None = None,
    optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
    strict: bool = True,
) -> ImportReport:
    """Write a TF checkpoint's variables (and slots) into ``module`` / ``optimizers`` in place.

    Raises:
        InvalidArgumentError: a custom module without a ``name_map``, or a bad ``name_map``.
        CheckpointMismatchError: missing / unused variables or shape mismatches (all listed).
    """
    own = module.state_dict(keep_vars=True)
    bindings = module_bindings(module) if name_map is None else None
    premade = bindings is not None
    if bindings is None:
        if name_map is None:
            raise InvalidArgumentError(
                f"import_tf_checkpoint: {type(module).__name__} is not a pre-made model, so the TF variable names "
                "cannot be guessed; pass name_map={TF name or regex: our state_dict key}, e.g. "
                "{'dense/kernel': 'fc.weight', r'layer_(\\d+)/bias': r'layers.\\1.bias'}. TF variables: "
                f"{tf_model_variables(bundle)[:20]}."
            )
        tf_shapes = {n: bundle.shapes()[n] for n in tf_model_variables(bundle)}
        tensors = {k: v for k, v in own.items() if isinstance(v, torch.Tensor)}
        bindings = name_map_bindings(name_map, tf_shapes, tensors)
    resolution = resolve_bindings(bundle, module, bindings)
    resolved = resolution.resolved
    problems = resolution.missing + resolution.mismatched + (resolution.extra if premade else [])
    if resolution.mismatched or (strict and problems):  # a wrong shape is never loaded silently
        raise _mismatch(bundle, module, problems)
    step = int(bundle.read("global_step")) if "global_step" in bundle else 0
    report = ImportReport(source=str(bundle.prefix), global_step=step)
    written: dict[str, np.ndarray] = {}
    with torch.no_grad():
        for b, name in resolved:
            target = b.view(own[b.key])
            value = torch.from_numpy(bundle.read(name))
            target.copy_((value.T if b.transpose else value).to(target.dtype))
            rows = own[b.key].shape[0] if own[b.key].dim() else 1
            mask = written.setdefault(b.key, np.zeros(rows, dtype=bool))
            mask[b.start : b.start + (b.rows if b.rows is not None else rows)] = True
            report.loaded[b.our_name] = name
    loaded = {id(b) for b, _ in resolved}
    report.left_initial = _unwritten(own, written, [b for b in bindings if id(b) not in loaded])
    used = {n for _, n in resolved}
    report.unused_tf = [n for n in tf_model_variables(bundle) if n not in used]
    if optimizers:
        load_slots(bundle, module, optimizers, resolved, report)
    elif optimizers is not None:  # asked for slots, but the model keeps no optimizer where we can see it
        report.slots_left_initial.append(
            "(no optimizer found on the model: pass optimizers={name: optimizer} to import the slots)"
        )
    return report


def _model_optimizers(module: torch.nn.Module) -> dict[str, torch.optim.Optimizer]:
    """The optimizers the Estimator will checkpoint for ``module``, under the names it will use."""
    from torchestimator.parallel.placement import module_optimizers
    from torchestimator.premade.model_base import PremadeModel

    if isinstance(module, PremadeModel):
        op = module.train_op()  # what the model_fn returns as train_op, named as the loop names it
        return {"optimizer": op} if isinstance(op, torch.optim.Optimizer) else dict(op)
    return module_optimizers(module)


def _refuse_unbuilt_function_model(module: Any, tf_checkpoint: Any) -> None:
    from torchestimator.function_model import FunctionModelFn

    if isinstance(module, FunctionModelFn) and not module.built:
        raise InvalidArgumentError(
            "import_tf_checkpoint: this function model_fn has not built its layers yet (it builds them on its "
            "first batch); start it from the TF checkpoint with te.Estimator(model_fn, warm_start_from="
            f"{os.fspath(tf_checkpoint)!r}) instead (weights by TF name; optimizer slots start fresh)."
        )


def import_tf_checkpoint(
    tf_checkpoint: str | os.PathLike[str],
    target: Any,
    *,
    model_dir: str | os.PathLike[str] | None = None,
    name_map: Mapping[str, str] | None = None,
    optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
    include_optimizer: bool = True,
    strict: bool = True,
) -> ImportReport:
    """Import a TF (tf.estimator 2.x / 1.x) checkpoint into an Estimator or a module.

    Args:
        tf_checkpoint: a TF model_dir (its newest checkpoint), a ``model.ckpt-N`` prefix, its ``.index``,
            or a SavedModel directory (its ``variables/`` bundle).
        target: an :class:`~torchestimator.Estimator` (its model is filled and a checkpoint is written to
            its model_dir, which must not have one yet; it then resumes from it) or an ``nn.Module`` (filled
            in place; a checkpoint is written only when ``model_dir`` is given).
        model_dir: where to write the checkpoint (default: the Estimator's model_dir).
        name_map: for custom modules: ``{TF name or regex: our state_dict key}`` (``re.fullmatch``; the key
            may use ``\\1`` groups). Pre-made models need none.
        optimizers: the optimizers whose slots to fill (default: the model's, under the names the
            Estimator checkpoints them: ``optimizer``, or ``dnn`` / ``linear``).
        include_optimizer: import the optimizer slots (FTRL, Adagrad, Adam, RMSProp, momentum).
        strict: a pre-made's variable missing from the TF checkpoint, or a TF variable the model lacks, is
            an error (False: load what matches and report the rest). Shape mismatches are always errors.

    Returns:
        An :class:`ImportReport` (``print(report)`` lists what was loaded and what was left initial).

    Raises:
        CheckpointNotFoundError: no TF checkpoint at ``tf_checkpoint``.
        CorruptCheckpointError: a damaged TF checkpoint.
        CheckpointMismatchError: the checkpoint is another model's (each variable listed, TF shape vs ours).
        CheckpointError: ``model_dir`` already holds torchestimator checkpoints.
        InvalidArgumentError: a custom module without ``name_map``, or a bad ``name_map``.

    Example:
        >>> est = LinearClassifier(columns, model_dir="/tmp/ported")  # doctest: +SKIP
        >>> print(import_tf_checkpoint("/tf/model_dir", est))  # doctest: +SKIP
    """
    from torchestimator.estimator import Estimator

    if isinstance(target, Estimator):
        module = target.model
        model_dir = model_dir if model_dir is not None else target.model_dir
    elif isinstance(target, torch.nn.Module):
        module = target
    else:
        raise InvalidArgumentError(
            f"import_tf_checkpoint: target must be an Estimator or an nn.Module; received {type(target).__name__}."
        )
    _refuse_unbuilt_function_model(module, tf_checkpoint)
    if model_dir is not None and ckpt_lib.list_checkpoints(model_dir):
        raise CheckpointError(
            f"import_tf_checkpoint: model_dir {os.fspath(model_dir)!r} already holds torchestimator checkpoints "
            f"(steps {ckpt_lib.list_checkpoints(model_dir)}), which would win over the import; import into a new, "
            "empty model_dir."
        )
    bundle = TFBundle(tf_checkpoint)
    if include_optimizer and optimizers is None:
        optimizers = _model_optimizers(module)
    report = load_tf_weights(
        bundle, module, name_map=name_map, optimizers=optimizers if include_optimizer else None, strict=strict
    )
    if model_dir is not None:
        states = (
            {name: opt.state_dict() for name, opt in (optimizers or {}).items()} if include_optimizer else {}
        )
        report.checkpoint_path = ckpt_lib.save_checkpoint(
            model_dir, report.global_step, module.state_dict(), states, save_rng=False
        )
    logger.info("%s", report)
    for warning in report.hyperparameter_mismatches:
        logger.warning("import_tf_checkpoint: %s; continued training will differ from TF's.", warning)
    return report
