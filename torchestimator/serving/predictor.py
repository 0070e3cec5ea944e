"""``load(export_dir)``: a predictor with the export's signatures, on ONNX Runtime or torch.

Per call: serialized ``tf.Example`` -> ``parse_example`` with the export's parse spec -> raw features
-> :class:`~torchestimator.export.wire.HostStep` (hashing, crossing; plus vocabulary lookups for the
torch backend) -> the graph -> ``{output key: numpy array}``. Strings come back as object arrays
of ``bytes``, as TF returns them.

Example:
    >>> predictor = load(export_dir)                                     # doctest: +SKIP
    >>> predictor.signatures["predict"](examples=[serialized])["logits"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from torchestimator.errors import ExportError, FeatureError, InvalidArgumentError, did_you_mean

__all__ = ["BACKENDS", "Predictor", "Signature", "load"]

BACKENDS = ("onnxruntime", "torch")
_SMALL_BATCH = 16


def _resolve_vocab_paths(node: Any, root: str) -> None:
    if isinstance(node, dict):
        if node.get("type") == "VocabularyFileCategoricalColumn":
            rel = node["config"]["vocabulary_file"]
            if not os.path.isabs(rel):
                node["config"]["vocabulary_file"] = os.path.join(root, rel)
        for v in node.values():
            _resolve_vocab_paths(v, root)
    elif isinstance(node, list):
        for v in node:
            _resolve_vocab_paths(v, root)


class Signature:
    """One serving signature: ``method_name``, ``inputs``, ``outputs`` (``{key: {dtype, shape}}``).

    Call it with its input keys: ``sig(inputs=[...])`` / ``sig(examples=[...])`` (serialized
    Examples) or ``sig(**features)`` for a raw receiver.
    """

    def __init__(self, predictor: Predictor, name: str, data: Mapping[str, Any]) -> None:
        self._predictor = predictor
        self.name = name
        self.method_name: str = data["method_name"]
        self.inputs: dict[str, dict[str, Any]] = dict(data["inputs"])
        self.outputs: dict[str, dict[str, Any]] = dict(data["outputs"])

    def __call__(self, **inputs: Any) -> dict[str, np.ndarray]:
        """Run the signature; returns ``{output key: array}``.

        Raises:
            InvalidArgumentError: missing or unknown input keys.
            FeatureError: a feature is missing or has the wrong type (the error names it).
        """
        unknown = sorted(set(inputs) - set(self.inputs))
        missing = sorted(set(self.inputs) - set(inputs))
        if unknown or missing:
            raise InvalidArgumentError(
                f"signature {self.name!r} takes inputs {sorted(self.inputs)}; missing {missing}, unknown {unknown}"
                f"{did_you_mean(unknown[0], list(self.inputs)) if unknown else ''}."
            )
        serialized = self.inputs.get("inputs", self.inputs.get("examples"))
        if serialized is not None and serialized.get("dtype") == "string" and len(self.inputs) == 1:
            records = next(iter(inputs.values()))
            features = self._predictor.parse(records)
        else:
            features = inputs
        sources = {k: v["source"] for k, v in self.outputs.items()}
        results = self._predictor.run(features, sorted(set(sources.values())))
        return {k: results[src] for k, src in sources.items()}


class Predictor:
    """A loaded export (see :func:`load`)."""

    def __init__(
        self, export_dir: str, backend: str = "onnxruntime", custom_objects: Mapping[str, Any] | None = None
    ) -> None:
        from torchestimator.export.saved_model import FORMAT, parse_spec_from_json
        from torchestimator.export.wire import HostStep, WireInput

        manifest_path = os.path.join(export_dir, "saved_model.json")
        if not os.path.isfile(manifest_path):
            raise ExportError(f"{export_dir!r} is not a torchestimator export: {manifest_path!r} is missing.")
        if backend not in BACKENDS:
            raise InvalidArgumentError(f"backend must be one of {list(BACKENDS)}; received {backend!r}.")
        with open(manifest_path, encoding="utf-8") as fh:
            self.manifest: dict[str, Any] = json.load(fh)
        if self.manifest.get("format") != FORMAT:
            raise ExportError(
                f"{manifest_path!r} has format {self.manifest.get('format')!r}; expected {FORMAT!r}."
            )
        self.export_dir = export_dir
        self.backend = backend
        self.parse_spec = parse_spec_from_json(self.manifest["parse_spec"])
        graph = self.manifest["onnx" if backend == "onnxruntime" else "torch"]
        _resolve_vocab_paths(graph["inputs"], export_dir)
        self._inputs = {i["name"]: WireInput.from_json(i) for i in graph["inputs"]}
        self.host_step = HostStep(self._inputs, custom_objects)
        self._graph_outputs: list[str] = list(graph["outputs"])
        names = self.manifest.get("class_names")
        self._class_names = (
            None if names is None else np.array([n.encode("utf-8") for n in names], dtype=object)
        )
        path = os.path.join(export_dir, graph["file"])
        if backend == "onnxruntime":
            from torchestimator.optional import import_optional

            ort = import_optional(
                "onnxruntime",
                extra="onnx",
                purpose="serving.load(backend='onnxruntime')",
                alternative="Or run the export's torch.export program: serving.load(path, backend='torch').",
            )

            options = ort.SessionOptions()
            options.log_severity_level = 3
            self._session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        else:
            import torch

            self._program = torch.export.load(path).module()
        self.signatures = {
            name: Signature(self, name, data) for name, data in self.manifest["signatures"].items()
        }

    def parse(self, serialized: Sequence[bytes] | np.ndarray) -> dict[str, Any]:
        """Parse serialized ``tf.Example`` with the export's parse spec.

        Raises:
            FeatureError: a required feature is missing or has the wrong type.
        """
        from torchestimator.errors import InputError
        from torchestimator.inputs import parse_example
        from torchestimator.inputs.example_parsing import parse_example_slow

        if isinstance(serialized, (bytes, bytearray)):
            serialized = [bytes(serialized)]
        try:
            if len(serialized) <= _SMALL_BATCH:  # the vectorised parser's fixed cost dominates here
                return parse_example_slow([bytes(r) for r in serialized], self.parse_spec)
            return parse_example(serialized, self.parse_spec)
        except InputError as err:
            raise FeatureError(str(err)) from err

    def run(self, features: Mapping[str, Any], outputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Run the graph on raw features; returns the requested outputs (all by default)."""
        wire = self.host_step(features)
        wanted = list(outputs) if outputs is not None else list(self.manifest["outputs"])
        if self.backend == "onnxruntime":
            values = self._session.run(wanted, wire)
            result = dict(zip(wanted, values))
            for key in ("classes", "all_classes"):
                if key in result:
                    result[key] = np.vectorize(
                        lambda s: s.encode("utf-8") if isinstance(s, str) else s, otypes=[object]
                    )(result[key])
            return result
        import torch

        with torch.no_grad():
            values = self._program(*[torch.from_numpy(wire[name]) for name in self._inputs])
        result = {name: v.numpy() for name, v in zip(self._graph_outputs, values)}
        if self._class_names is not None:
            if "class_ids" in result:
                result["classes"] = self._class_names[result["class_ids"]]
            if "all_class_ids" in result:
                result["all_classes"] = self._class_names[result["all_class_ids"]]
        return {k: result[k] for k in wanted}

    def __call__(self, inputs: Any, signature: str = "predict") -> dict[str, np.ndarray]:
        """Run ``signature`` on a feature dict or a list of serialized ``tf.Example``.

        Raises:
            InvalidArgumentError: an unknown signature.
        """
        if signature not in self.signatures:
            raise InvalidArgumentError(
                f"unknown signature {signature!r}; this export has {sorted(self.signatures)}"
                f"{did_you_mean(signature, list(self.signatures))}."
            )
        sig = self.signatures[signature]
        sources = {k: v["source"] for k, v in sig.outputs.items()}
        features = inputs if isinstance(inputs, Mapping) else self.parse(inputs)
        results = self.run(features, sorted(set(sources.values())))
        return {k: results[src] for k, src in sources.items()}


def load(
    export_dir: str | os.PathLike[str],
    backend: str = "onnxruntime",
    custom_objects: Mapping[str, Any] | None = None,
) -> Predictor:
    """Load an export written by ``export_saved_model``.

    Args:
        export_dir: the ``<timestamp>`` directory.
        backend: ``'onnxruntime'`` (model.onnx) or ``'torch'`` (model.pt2).
        custom_objects: callables needed to rebuild host-step columns (a crossed column's normalizer_fn).

    Returns:
        A :class:`Predictor`.

    Raises:
        ExportError: not an export directory, or an unknown format.
        InvalidArgumentError: an unknown backend.
    """
    return Predictor(os.fspath(export_dir), backend, custom_objects)
