"""The exportable program: wire tensors -> the model's PREDICT-mode numeric outputs.

:class:`ServingModule` wraps the resident model_fn module. Its ``forward(*wire)`` rebuilds the
column layers' inputs in-graph (:func:`~torchestimator.export.graph_inputs.build_layer_inputs`), adds the
pass-through ``tensor`` features (raw receiver features the model reads itself), calls the model in
PREDICT mode and returns the numeric predictions as a tuple, in :attr:`output_names` order.

String predictions (``classes``, ``all_classes``) are host copies in eager torch. The eager probe
reads the class names from them; the trace runs under
:func:`~torchestimator.heads.base.numeric_predictions_only`, so heads leave them out, and the export
rebuilds them from the class-name table (ONNX: a ``Gather`` on a string constant; torch backend: on
the host).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from torchestimator.errors import ExportError
from torchestimator.export.default_outputs import export_outputs_for_spec
from torchestimator.export.graph_inputs import GraphBuilder, bag_forward, build_layer_inputs
from torchestimator.export.wire_plan import WireInput, WirePlan
from torchestimator.heads.base import numeric_predictions_only
from torchestimator.spec import EstimatorSpec, ModeKeys

__all__ = ["ProbeResult", "ServingModule", "example_wire", "export_program"]

logger = logging.getLogger("torchestimator")
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
        for sig, out in export_outputs_for_spec(spec).items():  # TF's default serving_default rules
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


class _ReadTracker(dict):
    """The features dict of the eager probe: records which pass-through features the model reads."""

    def __init__(self, data: Mapping[str, Any], tracked: set[str], strings: Sequence[str]) -> None:
        super().__init__(data)
        self.read: set[str] = set()
        self._tracked = tracked
        self._strings = set(strings)

    def _note(self, key: Any) -> None:
        if key in self._strings:
            raise ExportError(
                f"the model reads the string feature {key!r} directly; strings cannot enter the exported graph. "
                "Read it through a feature column (e.g. categorical_column_with_vocabulary_list) or leave it out "
                "of the serving receiver."
            )
        if key in self._tracked:
            self.read.add(key)

    def __getitem__(self, key: Any) -> Any:
        self._note(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._note(key)
        return super().get(key, default)

    def _all(self) -> None:
        self.read |= self._tracked & set(super().keys())

    def __iter__(self) -> Iterator[Any]:
        self._all()
        return super().__iter__()

    def values(self) -> Any:
        self._all()
        return super().values()

    def items(self) -> Any:
        self._all()
        return super().items()


class ServingModule(nn.Module):
    """``forward(*wire tensors) -> tuple of numeric outputs`` for one model (see module docstring).

    Args:
        model: the resident model_fn module.
        caller: the Estimator's model caller (``caller(model, features, labels, mode)``).
        plan: the wire plan (column inputs and pass-through ``tensor`` inputs).
        string_features: receiver features left out of the graph (strings); reading one is an error.
        bare_tensor: pass the single ``tensor`` input itself as the model's features, not a dict
            (a :class:`~torchestimator.export.TensorServingInputReceiver`, as TF does).
    """

    def __init__(
        self,
        model: nn.Module,
        caller: Any,
        plan: WirePlan,
        string_features: Sequence[str] = (),
        bare_tensor: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self._caller = caller
        self._plan = plan
        self._string_features = list(string_features)
        self._bare_tensor = bare_tensor
        self.input_names = list(plan.inputs)
        self.output_names: list[str] = []

    @property
    def plan(self) -> WirePlan:
        """The serving graph's inputs and the column layers they feed."""
        return self._plan

    def features(self, wire: Sequence[torch.Tensor]) -> Any:
        """The model's features: the column layers' reserved keys plus the pass-through tensors."""
        if self._bare_tensor:
            return wire[0]
        named = dict(zip(self.input_names, wire))
        builder = GraphBuilder(named, self._plan.ids_names)
        features = build_layer_inputs(builder, self._plan.layers)
        for name, item in self._plan.inputs.items():
            if item.kind == "tensor" and name in named:
                features[str(item.key)] = named[name]
        return features

    def spec(self, *wire: torch.Tensor) -> EstimatorSpec:
        """The model's PREDICT spec on wire tensors (eager or traced)."""
        spec: EstimatorSpec = self._caller(self.model, self.features(wire), None, ModeKeys.PREDICT)
        return spec

    def probe(self, *wire: torch.Tensor) -> tuple[EstimatorSpec, set[str]]:
        """One eager PREDICT call; returns the spec and the pass-through features the model read."""
        tensors = {str(i.key) for i in self._plan.inputs.values() if i.kind == "tensor"}
        if self._bare_tensor:
            return self.spec(*wire), tensors
        features = _ReadTracker(self.features(wire), tensors, self._string_features)
        spec: EstimatorSpec = self._caller(self.model, features, None, ModeKeys.PREDICT)
        return spec, features.read

    def drop_inputs(self, names: Sequence[str]) -> None:
        """Remove unread pass-through inputs from the plan and the graph's inputs."""
        for name in names:
            del self._plan.inputs[name]
        self.input_names = list(self._plan.inputs)

    def forward(self, *wire: torch.Tensor) -> tuple[torch.Tensor, ...]:
        spec = self.spec(*wire)
        preds = _flat_predictions(spec.predictions)
        outs = []
        for name in self.output_names:
            if name in preds:
                outs.append(preds[name])
            else:
                sig, _, okey = name.partition("/")
                outs.append(export_outputs_for_spec(spec)[sig].outputs[okey])
        return tuple(outs)


@contextlib.contextmanager
def export_patches(module: ServingModule) -> Iterator[None]:
    """Loop-free EmbeddingBags and numeric-only head predictions (string ones cannot be traced)."""
    bags = [m for m in module.model.modules() if isinstance(m, nn.EmbeddingBag)]
    for bag in bags:
        if bag.mode != "sum":
            raise ExportError(f"EmbeddingBag mode {bag.mode!r} cannot be exported; columns use mode='sum'.")
    for bag in bags:
        bag.forward = bag_forward(bag)  # type: ignore[method-assign]
    try:
        with numeric_predictions_only():
            yield
    finally:
        for bag in bags:
            del bag.forward


def example_wire(inputs: Mapping[str, WireInput], batch: int = 3, length: int = 2) -> list[torch.Tensor]:
    """Valid example inputs for tracing (B=3, L=2 so no size is specialised to 0 / 1)."""
    out = []
    for item in inputs.values():
        if item.kind == "dense":
            out.append(torch.zeros(batch, int(item.width or 1), dtype=getattr(torch, item.dtype)))
        elif item.kind == "sequence_length":
            out.append(torch.full((batch,), length, dtype=torch.int64))
        elif item.kind == "sequence" and item.dtype == "float32":
            out.append(torch.ones(batch, length, int(item.width or 1), dtype=torch.float32))
        elif item.kind == "sequence":
            out.append(torch.zeros(batch, length, dtype=torch.int64))
        elif item.kind == "tensor":
            dims = [length if d == -1 else d for d in (item.shape or (-1,))[1:]]
            out.append(torch.zeros(batch, *dims, dtype=getattr(torch, item.dtype)))
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
    shapes: list[dict[int, Any]] = []
    for i, item in enumerate(inputs.values()):
        if item.kind in ("dense", "sequence_length"):
            shapes.append({0: batch})
        elif item.kind == "tensor":
            dims = (item.shape or (-1,))[1:]
            shapes.append(
                {
                    0: batch,
                    **{d + 1: torch.export.Dim(f"dim{i}_{d + 1}") for d, w in enumerate(dims) if w == -1},
                }
            )
        else:
            group = item.group or item.name
            if group not in groups:
                groups[group] = torch.export.Dim(f"len{i}")
            shapes.append({0: batch, 1: groups[group]})
    return tuple(shapes)


def export_program(module: ServingModule) -> tuple[Any, ProbeResult, list[torch.Tensor]]:
    """Probe eagerly, drop unread pass-through inputs, then ``torch.export`` with a dynamic batch and lengths.

    Returns:
        ``(ExportedProgram, ProbeResult, example wire tensors)``; the program carries no example
        inputs (``torch.export.save`` would pickle them).

    Raises:
        ExportError: the model reads nothing, reads a string feature, or cannot be traced (the
            cause is chained).
    """
    plan = module.plan
    args = example_wire(plan.inputs)
    with torch.no_grad():
        spec, read = module.probe(*args)
    unread = [n for n, i in plan.inputs.items() if i.kind == "tensor" and i.key not in read]
    if unread:
        logger.info("Receiver features %s are not read by the model; left out of the exported graph.", unread)
        module.drop_inputs(unread)
        if not plan.inputs:
            raise ExportError(
                f"the model reads none of the serving receiver's features ({sorted(unread)}); nothing to export."
            )
        args = example_wire(plan.inputs)
        with torch.no_grad():
            spec = module.spec(*args)
    probe = ProbeResult(spec)
    module.output_names = probe.output_names
    dynamic = _dynamic_shapes(plan.inputs)
    try:
        with export_patches(module), torch.no_grad():
            program = torch.export.export(module, tuple(args), dynamic_shapes=(dynamic,), strict=False)
    except ExportError:
        raise
    except Exception as err:  # torch raises many types here; report them as one export failure
        raise ExportError(f"torch.export could not trace the model for serving: {err}") from err
    program._example_inputs = None  # torch.export.save pickles example inputs (sample_inputs/model.pt)
    return program, probe, args
