"""Write the ONNX model: torch.export program -> ONNX, plus in-graph vocabulary lookups and class names.

After the dynamo exporter (single file, ``external_data=False``) the graph is edited with plain
``onnx`` protobuf calls:

* every vocabulary column without OOV buckets: the input ``<column>__ids`` is replaced by an
  ``ai.onnx.ml.LabelEncoder`` over the raw feature (``(B, L)`` string or int64; the padding ``''`` /
  ``-1`` maps to -1 = missing, out-of-vocabulary values to the column's ``default_value``);
* string outputs: ``classes = Gather(class_names, class_ids)`` and
  ``all_classes = Gather(class_names, all_class_ids)``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from torchestimator.errors import ExportError
from torchestimator.export.wire_plan import Lookup, WireInput

__all__ = ["write_onnx"]

_ONNX_DTYPES = {"float32": 1, "int32": 6, "int64": 7, "string": 8, "float64": 11}


def _label_encoder(lookup: Lookup) -> Any:
    from onnx import helper

    keys: list[Any]
    if lookup.dtype == "string":
        keys = [str(v) for v in lookup.vocabulary]
        pad: Any = ""
        attr = "keys_strings"
    else:
        keys = [int(v) for v in lookup.vocabulary]
        pad = -1
        attr = "keys_int64s"
    values = list(range(len(keys)))
    if pad not in keys:
        keys, values = [pad, *keys], [-1, *values]
    attrs: dict[str, Any] = {attr: keys, "values_int64s": values, "default_int64": int(lookup.default_value)}
    return helper.make_node(
        "LabelEncoder",
        [lookup.key],
        [lookup.ids_name],
        domain="ai.onnx.ml",
        name=f"lookup/{lookup.ids_name}",
        **attrs,
    )


def _export_torchscript(
    module: Any, args: Sequence[Any], path: str, input_names: Sequence[str], output_names: Sequence[str]
) -> None:
    """TorchScript ONNX export of a ServingModule, batch and lengths dynamic (see :func:`write_onnx`)."""
    import torch

    from torchestimator.export.program import export_patches

    axes: dict[str, dict[int, str]] = {}
    for name in input_names:
        item = module.plan.inputs[name]
        axes[name] = {0: "batch"}
        if item.kind in ("padded", "ids", "sequence"):
            axes[name][1] = f"len_{item.group or name}"
        elif item.kind == "tensor":
            axes[name].update(
                {d + 1: f"{name}_dim{d + 1}" for d, w in enumerate((item.shape or (-1,))[1:]) if w == -1}
            )
    axes.update({name: {0: "batch"} for name in output_names})

    def tensors_only(_module: Any, state: dict[str, Any], _prefix: str, _meta: Any) -> None:
        for key in [k for k, v in state.items() if not isinstance(v, torch.Tensor)]:
            del state[key]  # the column layers' extra state (JSON column specs): the tracer wants tensors

    handle = module._register_state_dict_hook(tensors_only)
    try:
        with export_patches(module), torch.no_grad():
            torch.onnx.export(
                module,
                tuple(args),
                path,
                dynamo=False,
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_axes=axes,
            )
    finally:
        handle.remove()


def write_onnx(
    program: Any,
    args: Sequence[Any],
    path: str,
    input_names: Sequence[str],
    output_names: Sequence[str],
    onnx_inputs: Mapping[str, WireInput],
    lookups: Mapping[str, Lookup],
    class_names: Sequence[str] | None,
    string_outputs: Sequence[str],
    recurrent_module: Any = None,
) -> list[str]:
    """Export ``program`` to ``path`` and edit it (see module docstring); returns the output names.

    ``recurrent_module`` (the ServingModule of a model with RNN layers) is exported with the
    TorchScript exporter instead, whose native ONNX ``RNN`` / ``LSTM`` / ``GRU`` ops keep the number
    of steps dynamic (the dynamo exporter cannot lower the program's ``scan``).

    Raises:
        ExportError: the ONNX exporter failed (the cause is chained).
    """
    import torch

    from torchestimator.optional import import_optional
    from torchestimator.quiet import quiet_onnx_export

    purpose = "export_saved_model (writing model.onnx)"
    onnx = import_optional("onnx", extra="onnx", purpose=purpose)
    import_optional("onnxscript", extra="onnx", purpose=purpose)  # torch.onnx's dynamo exporter needs it
    helper = onnx.helper

    tmp = path + ".raw"
    try:
        with warnings.catch_warnings(), quiet_onnx_export():
            warnings.simplefilter("ignore")
            if recurrent_module is not None:
                _export_torchscript(recurrent_module, args, tmp, input_names, output_names)
            else:
                torch.onnx.export(
                    program,
                    tuple(args),
                    tmp,
                    dynamo=True,
                    external_data=False,
                    input_names=list(input_names),
                    output_names=list(output_names),
                    verbose=False,
                )
        model = onnx.load(tmp)
    except Exception as err:  # the exporter raises many types
        raise ExportError(f"ONNX export failed: {err}") from err
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    graph = model.graph
    present = {i.name for i in graph.input}
    # -- vocabulary lookups in-graph
    nodes = []
    kept = [i for i in graph.input if i.name not in lookups]
    names = {i.name for i in kept}
    for name, lookup in lookups.items():
        if name not in present:
            continue
        if lookup.key not in names:
            item = onnx_inputs[lookup.key]
            kept.append(
                helper.make_tensor_value_info(
                    lookup.key, _ONNX_DTYPES[item.dtype], ["batch", f"len_{lookup.key}"]
                )
            )
            names.add(lookup.key)
        nodes.append(_label_encoder(lookup))
    del graph.input[:]
    graph.input.extend(kept)
    # -- string outputs from the class-name table
    outputs = list(output_names)
    if class_names is not None and string_outputs:
        table = np.array([n.encode("utf-8") for n in class_names], dtype=object)
        tail = [
            helper.make_node(
                "Constant",
                [],
                ["class_names_table"],
                value=helper.make_tensor("class_names_table", 8, [len(table)], table.tolist()),
            )
        ]
        for key in string_outputs:
            source = {"classes": "class_ids", "all_classes": "all_class_ids"}[key]
            tail.append(helper.make_node("Gather", ["class_names_table", source], [key], axis=0))
            width = 1 if key == "classes" else len(class_names)
            graph.output.append(helper.make_tensor_value_info(key, 8, ["batch", width]))
            outputs.append(key)
        graph.node.extend(tail)
    if nodes:
        existing = list(graph.node)
        del graph.node[:]
        graph.node.extend(nodes + existing)
        if not any(o.domain == "ai.onnx.ml" for o in model.opset_import):
            model.opset_import.append(helper.make_opsetid("ai.onnx.ml", 3))
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as err:
        raise ExportError(f"the edited ONNX model does not validate: {err}") from err
    onnx.save(model, path)
    return outputs
