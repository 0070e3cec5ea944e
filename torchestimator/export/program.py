"""The exportable program: wire tensors -> the model's PREDICT-mode numeric outputs.

:class:`ServingModule` wraps the resident model_fn module. Its ``forward(*wire)`` rebuilds the
column layers' inputs in-graph (:func:`~torchestimator.export.wire.build_layer_inputs`), calls the
model in PREDICT mode and returns the numeric predictions as a tuple, in :attr:`output_names`
order. String predictions (``classes``, ``all_classes``) are host copies in eager torch; they are
rebuilt from the class-name table found by an eager probe (ONNX: a ``Gather`` on a string constant;
torch backend: on the host), and left out of the traced graph.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from torchestimator.errors import ExportError
from torchestimator.export.wire import GraphBuilder, WireInput, WirePlan, bag_forward, build_layer_inputs
from torchestimator.spec import EstimatorSpec, ModeKeys

__all__ = ["ProbeResult", "ServingModule", "example_wire", "export_program"]

STRING_SOURCES = {"classes": "class_ids", "all_classes": "all_class_ids"}


def _key(k: Any) -> str:
    return "/".join(k) if isinstance(k, tuple) else str(k)


def _flat_predictions(predictions: Any) -> dict[str, Any]:
    if isinstance(predictions, Mapping):
        return {_key(k): v for k, v in predictions.items()}
    return {"output": predictions}


class ProbeResult:
    """What one eager PREDICT call showed: numeric keys, string keys, class names, signatures."""

    def __init__(self, spec: EstimatorSpec) -> None:
        preds = _flat_predictions(spec.predictions)
        self.numeric = [k for k, v in preds.items() if isinstance(v, torch.Tensor)]
        self.strings = [k for k, v in preds.items() if not isinstance(v, torch.Tensor)]
        self.class_names: list[str] | None = None
        for key in self.strings:
            if key not in STRING_SOURCES or STRING_SOURCES[key] not in self.numeric:
                raise ExportError(
                    f"prediction {key!r} is not a tensor; export supports tensor predictions plus the heads' "
                    f"string keys {sorted(STRING_SOURCES)} (derived from class ids)."
                )
        table = preds.get("all_classes")
        if table is None and self.strings:
            raise ExportError("string predictions need 'all_classes' to recover the class names.")
        if table is not None:
            row = np.asarray(table)[0]
            self.class_names = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in row]
        self.signatures: dict[str, dict[str, Any]] = {}
        self.extra: list[str] = []  # signature outputs that are not predictions: "<sig>/<key>"
        by_id = {id(v): k for k, v in preds.items()}
        extra_tensors: dict[str, torch.Tensor] = {}
        for sig, out in (spec.export_outputs or {}).items():
            mapping: dict[str, str] = {}
            for okey, value in out.outputs.items():
                if id(value) in by_id:
                    mapping[okey] = by_id[id(value)]
                elif isinstance(value, np.ndarray) and value.dtype == object and okey == "classes":
                    mapping[okey] = "all_classes"
                elif isinstance(value, torch.Tensor):
                    name = f"{sig}/{okey}"
                    mapping[okey] = name
                    extra_tensors[name] = value
                else:
                    raise ExportError(
                        f"signature {sig!r} output {okey!r} is neither a tensor nor the class names."
                    )
            self.signatures[sig] = {"method_name": out.method_name, "outputs": mapping}
        self.extra = sorted(extra_tensors)

    @property
    def output_names(self) -> list[str]:
        return self.numeric + self.extra


class ServingModule(nn.Module):
    """``forward(*wire tensors) -> tuple of numeric outputs`` for one model (see module docstring)."""

    def __init__(self, model: nn.Module, caller: Any, plan: WirePlan) -> None:
        super().__init__()
        self.model = model
        self._caller = caller
        self._plan = plan
        self.input_names = list(plan.inputs)
        self.output_names: list[str] = []
        self._signature_extra: list[str] = []
        self._bag_index: dict[int, torch.Tensor] = {}

    def spec(self, *wire: torch.Tensor) -> EstimatorSpec:
        """The model's PREDICT spec on wire tensors (eager or traced)."""
        builder = GraphBuilder(dict(zip(self.input_names, wire)), self._plan.ids_names)
        features = build_layer_inputs(builder, self._plan.layers)
        self._bag_index.clear()
        self._bag_index.update(builder.bag_index)
        spec: EstimatorSpec = self._caller(self.model, features, None, ModeKeys.PREDICT)
        return spec

    def forward(self, *wire: torch.Tensor) -> tuple[torch.Tensor, ...]:
        spec = self.spec(*wire)
        preds = _flat_predictions(spec.predictions)
        outs = []
        for name in self.output_names:
            if name in preds:
                outs.append(preds[name])
            else:
                sig, _, okey = name.partition("/")
                outs.append((spec.export_outputs or {})[sig].outputs[okey])
        return tuple(outs)


@contextlib.contextmanager
def export_patches(module: ServingModule) -> Iterator[None]:
    """Loop-free EmbeddingBags, and string predictions stubbed out (they cannot be traced)."""
    bags = [m for m in module.model.modules() if isinstance(m, nn.EmbeddingBag)]
    patched: list[tuple[Any, str, Any]] = []
    for name, mod in list(sys.modules.items()):
        if not name.startswith("torchestimator.") or mod is None:
            continue
        for attr in ("class_strings", "all_classes"):
            fn = getattr(mod, attr, None)
            if callable(fn) and getattr(fn, "__module__", "") == "torchestimator.heads.base":
                patched.append((mod, attr, fn))
                setattr(mod, attr, lambda *a, **k: None)
    for bag in bags:
        if bag.mode != "sum":
            raise ExportError(f"EmbeddingBag mode {bag.mode!r} cannot be exported; columns use mode='sum'.")
        bag.forward = bag_forward(bag, module._bag_index)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for bag in bags:
            del bag.forward
        for mod, attr, fn in patched:
            setattr(mod, attr, fn)


def example_wire(inputs: Mapping[str, WireInput], batch: int = 3, length: int = 2) -> list[torch.Tensor]:
    """Valid example inputs for tracing (B=3, L=2 so no size is specialised to 0 / 1)."""
    out = []
    for item in inputs.values():
        if item.kind == "dense":
            out.append(torch.zeros(batch, int(item.width or 1), dtype=getattr(torch, item.dtype)))
        elif item.dtype == "float32":
            out.append(torch.ones(batch, length, dtype=torch.float32))
        else:
            ids = torch.zeros(batch, length, dtype=torch.int64)
            ids[0, 1] = -1
            out.append(ids)
    return out


def _dynamic_shapes(inputs: Mapping[str, WireInput]) -> tuple[dict[int, Any], ...]:
    batch = torch.export.Dim("batch")
    groups: dict[str, Any] = {}
    shapes = []
    for i, item in enumerate(inputs.values()):
        if item.kind == "dense":
            shapes.append({0: batch})
        else:
            group = item.group or item.name
            if group not in groups:
                groups[group] = torch.export.Dim(f"len{i}")
            shapes.append({0: batch, 1: groups[group]})
    return tuple(shapes)


def export_program(module: ServingModule, probe_args: Sequence[torch.Tensor]) -> tuple[Any, ProbeResult]:
    """Probe eagerly, then ``torch.export`` the module with a dynamic batch and lengths.

    Returns:
        ``(ExportedProgram, ProbeResult)``.

    Raises:
        ExportError: the model cannot be traced (the cause is chained).
    """
    with torch.no_grad():
        probe = ProbeResult(module.spec(*probe_args))
    module.output_names = probe.output_names
    dynamic = _dynamic_shapes(module._plan.inputs)
    try:
        with export_patches(module), torch.no_grad():
            program = torch.export.export(module, tuple(probe_args), dynamic_shapes=(dynamic,), strict=False)
    except Exception as err:  # torch raises many types here; report them as one export failure
        raise ExportError(f"torch.export could not trace the model for serving: {err}") from err
    return program, probe
