"""``export_saved_model``: ``<export_dir_base>/<timestamp>/`` with the model, its preprocessing and signatures.

Layout (documented in ``docs/export.md``)::

    <timestamp>/                 10-digit unix time, renamed from temp-<timestamp> when complete
      saved_model.json           manifest: format, signatures (TF names/keys/dtypes), graph inputs,
                                 parse spec, class names, global_step, checkpoint
      model.onnx                 single-file ONNX (raw numbers + strings in; vocabulary lookups in-graph)
      model.pt2                  torch.export program (numeric inputs; loads without torchestimator)
      variables/weights.safetensors   the model's state (tensors only)
      assets/columns.json        every column layer's serialised columns
      assets/<vocabulary files>  copied vocabulary files
      assets.extra/              ``assets_extra`` files

Nothing is pickled. A crash leaves at most ``temp-<timestamp>/``, never a ``<timestamp>/``; every file
is fsynced before the rename, and abandoned ``temp-*`` folders are removed by the next export
(:mod:`torchestimator.export.staging` says exactly when).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch

from torchestimator.checkpoint import fsync_dir
from torchestimator.errors import (
    CheckpointNotFoundError,
    ExportError,
    FeatureError,
    InvalidArgumentError,
    did_you_mean,
)
from torchestimator.export.receivers import (
    ServingInputReceiver,
    TensorServingInputReceiver,
    raw_signature_inputs,
)
from torchestimator.export.staging import WRITER_FILE, clean_stale_temp_dirs, fsync_tree, write_owner
from torchestimator.file_policy import sha256_of
from torchestimator.spec import ModeKeys

__all__ = ["FORMAT", "export_saved_model", "parse_spec_from_json", "parse_spec_to_json"]

logger = logging.getLogger("torchestimator")
FORMAT = "torchestimator.export/1"
_CLASSIFY, _REGRESS, _PREDICT = (
    "tensorflow/serving/classify",
    "tensorflow/serving/regress",
    "tensorflow/serving/predict",
)


def parse_spec_to_json(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``{key: FixedLenFeature | VarLenFeature}`` -> JSON-ready dict."""
    from torchestimator.parsing import FixedLenFeature, VarLenFeature

    out: dict[str, Any] = {}
    for key, f in spec.items():
        if isinstance(f, FixedLenFeature):
            default = f.default_value
            if default is not None:
                default = default.tolist() if hasattr(default, "tolist") else default
            out[key] = {
                "type": "FixedLenFeature",
                "shape": list(f.shape),
                "dtype": f.dtype,
                "default_value": default,
            }
        elif isinstance(f, VarLenFeature):
            out[key] = {"type": "VarLenFeature", "dtype": f.dtype}
        else:
            raise ExportError(f"parse spec of feature {key!r} ({type(f).__name__}) cannot be exported.")
    return out


def parse_spec_from_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`parse_spec_to_json`."""
    from torchestimator.parsing import FixedLenFeature, VarLenFeature

    return {
        k: FixedLenFeature(tuple(v["shape"]), v["dtype"], v["default_value"])
        if v["type"] == "FixedLenFeature"
        else VarLenFeature(v["dtype"])
        for k, v in data.items()
    }


def _receiver(fn: Callable[[], Any]) -> ServingInputReceiver:
    if not callable(fn):
        raise InvalidArgumentError(
            f"serving_input_receiver_fn must be callable; received {type(fn).__name__}."
        )
    receiver = fn()
    if not isinstance(receiver, ServingInputReceiver):
        raise InvalidArgumentError(
            f"serving_input_receiver_fn must return a ServingInputReceiver; received {type(receiver).__name__}."
        )
    return receiver


def _signatures(
    probe: Any, receiver: ServingInputReceiver, outputs: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    sigs: dict[str, Any] = {}
    for name, sig in probe.signatures.items():
        method = sig["method_name"]
        if method in (_CLASSIFY, _REGRESS):
            if not receiver.is_parsing:
                logger.info("Signature %r excluded: %s needs serialized tf.Example inputs.", name, method)
                continue
            inputs = {"inputs": {"dtype": "string", "shape": [-1]}}
        elif receiver.is_parsing or isinstance(receiver, TensorServingInputReceiver):
            inputs = {k: v.to_json() for k, v in receiver.receiver_tensors.items()}
        else:
            inputs = raw_signature_inputs(receiver)  # keyed by receiver_tensors, as TF
        sig_outputs = {okey: {"source": src, **outputs[src]} for okey, src in sig["outputs"].items()}
        sigs[name] = {"method_name": method, "inputs": inputs, "outputs": sig_outputs}
    if "serving_default" not in sigs:
        logger.warning("Export includes no default signature!")
    return sigs


def _copy_vocabularies(columns: list[dict[str, Any]], assets: str) -> None:
    """Copy vocabulary files into ``assets/`` and point the serialised columns at ``assets/<name>``."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "VocabularyFileCategoricalColumn":
                src = node["config"]["vocabulary_file"]
                name = f"{node['config']['key']}-{os.path.basename(src)}"
                shutil.copyfile(src, os.path.join(assets, name))
                node["config"]["vocabulary_file"] = f"assets/{name}"
                node["asset_sha256"] = sha256_of(os.path.join(assets, name))  # verified by serving.load
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(columns)


def _write(
    est: Any, export_dir: str, receiver: ServingInputReceiver, assets_extra: Mapping[str, str] | None
) -> None:
    from safetensors.torch import save_file

    from torchestimator.columns.serialization import serialize_column
    from torchestimator.export.onnx_graph import write_onnx
    from torchestimator.export.program import ServingModule, export_program
    from torchestimator.export.wire_plan import plan_tensors, plan_wire

    model = est.model
    plan = plan_wire(model)
    columns = [c for layer in plan.layers for c in layer.feature_columns]
    needed = sorted({k for c in columns for k in c.raw_keys()})
    missing = [k for k in needed if k not in receiver.features]
    if missing:
        raise FeatureError(
            f"the serving receiver's features do not cover the model's columns: missing {missing} "
            f"(receiver has {sorted(receiver.features)}){did_you_mean(missing[0], list(receiver.features))}."
        )
    bare = isinstance(receiver, TensorServingInputReceiver)
    if bare:
        if plan.layers or len(receiver.receiver_tensors) != 1:
            raise ExportError(
                "a TensorServingInputReceiver passes one tensor to the model: it needs exactly one receiver "
                f"tensor (received {sorted(receiver.receiver_tensors)}) and a model without feature columns "
                f"(this model has {len(plan.layers)} column layer(s)); use build_raw_serving_input_receiver_fn."
            )
        passthrough = dict(receiver.receiver_tensors)  # served under the receiver tensor's key
    else:
        passthrough = {k: v for k, v in receiver.features.items() if k not in needed}
    strings = plan_tensors(plan, passthrough)
    was_training = model.training
    model.eval()
    try:
        module = ServingModule(model, est.runtime.caller, plan, strings, bare_tensor=bare)
        program, probe, args = export_program(module)
        os.makedirs(os.path.join(export_dir, "variables"))
        os.makedirs(os.path.join(export_dir, "assets"))
        torch.export.save(program, os.path.join(export_dir, "model.pt2"))
        onnx_outputs = (
            None
            if not _onnx_available()
            else write_onnx(
                program,
                args,
                os.path.join(export_dir, "model.onnx"),
                module.input_names,
                module.output_names,
                plan.onnx_inputs(),
                plan.lookups,
                probe.class_names,
                probe.strings,
                recurrent_module=module if _has_recurrent_layers(model) else None,
            )
        )
        with torch.no_grad():
            eager = module(*args)
    finally:
        model.train(was_training)
    outputs: dict[str, dict[str, Any]] = {}
    for name, value in zip(module.output_names, eager):
        outputs[name] = {"dtype": str(value.dtype).replace("torch.", ""), "shape": [-1, *value.shape[1:]]}
    for key in probe.strings:
        outputs[key] = {
            "dtype": "string",
            "shape": [-1, 1 if key == "classes" else len(probe.class_names or [])],
        }
    tensors = {
        k: v.detach().cpu().contiguous().clone()
        for k, v in model.state_dict().items()
        if isinstance(v, torch.Tensor)
    }
    save_file(
        tensors, os.path.join(export_dir, "variables", "weights.safetensors"), metadata={"format": FORMAT}
    )
    serialized = [
        {
            "layer": type(layer).__name__,
            "key_prefix": layer.key_prefix,
            "columns": [serialize_column(c) for c in layer.feature_columns],
        }
        for layer in plan.layers
    ]
    _copy_vocabularies(serialized, os.path.join(export_dir, "assets"))
    torch_inputs = [i.to_json() for i in plan.inputs.values()]
    onnx_inputs = [i.to_json() for i in plan.onnx_inputs().values()]
    _copy_vocabularies(
        [i["column"] for i in torch_inputs + onnx_inputs if i["column"]], os.path.join(export_dir, "assets")
    )
    with open(os.path.join(export_dir, "assets", "columns.json"), "w", encoding="utf-8") as fh:
        json.dump(serialized, fh, indent=1, sort_keys=True)
    parse_spec = receiver.parse_spec if receiver.parse_spec is not None else _raw_parse_spec(columns, plan)
    manifest = {
        "format": FORMAT,
        "global_step": int(est.global_step),
        "checkpoint": est.runtime.resident_checkpoint,
        "tags": ["serve"],
        "receiver": "parsing" if receiver.is_parsing else "raw",
        "parse_spec": parse_spec_to_json(parse_spec),
        "class_names": probe.class_names,
        "outputs": outputs,
        # null when the [onnx] extra is missing: the export then serves through model.pt2 alone
        "onnx": None
        if onnx_outputs is None
        else {"file": "model.onnx", "inputs": onnx_inputs, "outputs": onnx_outputs},
        "torch": {"file": "model.pt2", "inputs": torch_inputs, "outputs": module.output_names},
        "signatures": _signatures(probe, receiver, outputs),
        "model": _model_settings(est.model),
    }
    with open(os.path.join(export_dir, "saved_model.json"), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)
    if assets_extra:
        for dest, src in assets_extra.items():
            target = os.path.join(export_dir, "assets.extra", dest)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(src, target)


def _onnx_available() -> bool:
    """Whether model.onnx can be written; without the [onnx] extra the export is model.pt2 only (warned)."""
    import importlib.util

    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        logger.warning(
            "export_saved_model: writing model.pt2 only, no model.onnx: %s not installed "
            "(pip install 'torchestimator[onnx]'). Serve it with serving.load(path, backend='torch').",
            " and ".join(missing),
        )
    return not missing


def _has_recurrent_layers(model: torch.nn.Module) -> bool:
    return any(isinstance(m, (torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU)) for m in model.modules())


def _raw_parse_spec(columns: list[Any], plan: Any) -> dict[str, Any]:
    """The parse spec serialized Examples need for a raw receiver: the columns' plus fixed-shape tensors."""
    from torchestimator.columns.parse_spec import make_parse_example_spec
    from torchestimator.parsing import FixedLenFeature

    spec = dict(make_parse_example_spec(columns)) if columns else {}
    for item in plan.inputs.values():
        shape = tuple(item.shape or ())[1:]
        if item.kind == "tensor" and item.dtype in ("float32", "int64") and -1 not in shape:
            spec.setdefault(item.key, FixedLenFeature(shape, item.dtype))
    return spec


def _timestamp() -> int:
    return int(time.time())


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _model_settings(module: torch.nn.Module) -> dict[str, Any]:
    """Settings a rebuild needs beyond the weights (read by the TF bridge): the DNN hidden activation by
    name (``None`` for a custom callable) and each LinearModel's ``sparse_combiner``."""
    from torchestimator.columns import LinearModel
    from torchestimator.premade.dnn_tower import ACTIVATIONS, DNNTower

    settings: dict[str, Any] = {}
    for sub in module.modules():
        if isinstance(sub, DNNTower):
            names = [n for n, fn in ACTIVATIONS.items() if fn is sub.activation_fn]
            settings["dnn_activation"] = names[0] if names else None
        elif isinstance(sub, LinearModel):
            settings["sparse_combiner"] = sub.sparse_combiner
    return settings


def export_saved_model(
    estimator: Any,
    export_dir_base: str | os.PathLike[str],
    serving_input_receiver_fn: Callable[[], Any],
    assets_extra: Mapping[str, str] | None = None,
    as_text: bool = False,
    checkpoint_path: str | None = None,
    experimental_mode: str = ModeKeys.PREDICT,
) -> str:
    """Export ``estimator``'s model with its preprocessing to ``export_dir_base/<timestamp>/``.

    Args:
        estimator: a trained :class:`~torchestimator.Estimator`.
        export_dir_base: the parent directory (created if needed).
        serving_input_receiver_fn: returns a :class:`ServingInputReceiver`.
        assets_extra: ``{destination relative to assets.extra/: source path}``.
        as_text: accepted for TF compatibility (the manifest is always JSON text).
        checkpoint_path: the checkpoint to export; None means the latest in ``model_dir``.
        experimental_mode: only ``ModeKeys.PREDICT`` is exported.

    Returns:
        The path of the new export directory.

    Raises:
        CheckpointNotFoundError: no checkpoint to export.
        FeatureError: the receiver does not provide every feature the columns read.
        ExportError: the model cannot be exported; ``<timestamp>`` directories kept colliding.
        InvalidArgumentError: a bad receiver fn or mode.
    """
    del as_text
    if experimental_mode != ModeKeys.PREDICT:
        raise InvalidArgumentError(
            f"experimental_mode must be {ModeKeys.PREDICT!r}; received {experimental_mode!r}."
        )
    if checkpoint_path is None and estimator.latest_checkpoint() is None:
        raise CheckpointNotFoundError(
            f"Couldn't find trained model at {estimator.model_dir!r}: no checkpoint to export; train first or "
            "pass checkpoint_path."
        )
    estimator.runtime.use_checkpoint(checkpoint_path)
    receiver = _receiver(serving_input_receiver_fn)
    base = os.fspath(export_dir_base)
    os.makedirs(base, exist_ok=True)
    clean_stale_temp_dirs(base)
    for _attempt in range(10):
        stamp = str(_timestamp())
        final = os.path.join(base, stamp)
        temp = os.path.join(base, f"temp-{stamp}")
        if not os.path.exists(final):
            try:
                os.mkdir(temp)  # atomic claim: a concurrent export in the same second gets FileExistsError
                break
            except FileExistsError:
                pass
        _sleep(1)
    else:
        raise ExportError(f"export directory {final!r} already exists after 10 attempts; try again later.")
    try:
        write_owner(temp)
        _write(estimator, temp, receiver, assets_extra)
        os.remove(os.path.join(temp, WRITER_FILE))
        fsync_tree(temp)  # every file durable before the rename publishes the folder
        os.rename(temp, final)
        fsync_dir(base)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    logger.info("SavedModel written to: %s", final)
    return final
