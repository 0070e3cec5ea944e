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

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from torchestimator.errors import ExportError, FeatureError, InvalidArgumentError, did_you_mean
from torchestimator.optional import import_optional

__all__ = ["BACKENDS", "Predictor", "Signature", "load"]

BACKENDS = ("onnxruntime", "torch")
_SMALL_BATCH = 16  # requests up to this many Examples are parsed through the protobuf runtime


_MAX_ONNX_BYTES = 1 << 34  # 16 GiB: the single-file ONNX we write is far smaller


def _onnx_session(path: os.PathLike[str], providers: Sequence[str] | None = None) -> Any:
    """An ONNX Runtime session on ``path``'s bytes, refusing graphs that reference external data files.

    ``providers`` are ONNX Runtime execution providers in priority order (default CPU only); each must be
    available in this onnxruntime build (``onnxruntime-gpu`` has ``CUDAExecutionProvider``).
    """
    purpose = "serving.load(backend='onnxruntime')"
    alternative = "Or run the export's torch.export program: serving.load(path, backend='torch')."
    onnx = import_optional("onnx", extra="onnx", purpose=purpose, alternative=alternative)
    ort = import_optional("onnxruntime", extra="onnx", purpose=purpose, alternative=alternative)
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_ONNX_BYTES + 1)
    except OSError as exc:
        raise ExportError(f"{os.fspath(path)!r} cannot be read: {exc.strerror or exc}.") from exc
    if len(data) > _MAX_ONNX_BYTES:
        raise ExportError(f"{os.fspath(path)!r} is larger than {_MAX_ONNX_BYTES} bytes; refused.")
    try:
        model = onnx.load_model_from_string(data)  # never follows external data
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise ExportError(f"{os.fspath(path)!r} is not an ONNX model: {exc}.") from exc
    tensors = _initializers(model.graph) + [t for f in model.functions for t in _node_tensors(f.node, 0)]
    external = [t.name for t in tensors if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise ExportError(
            f"{os.fspath(path)!r} refers to external data for {external[:3]}; torchestimator writes single-file "
            "ONNX and never reads files an ONNX graph names. Re-export the model."
        )
    chosen = list(providers) if providers else ["CPUExecutionProvider"]
    available = list(ort.get_available_providers())
    missing = [p for p in chosen if p not in available]
    if missing:
        raise InvalidArgumentError(
            f"providers {missing} are not available in this onnxruntime build; available: {available} "
            "(CUDAExecutionProvider needs the onnxruntime-gpu package and a CUDA device)."
        )
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Serving requests are small: one intra-op thread that sleeps when idle beat ONNX Runtime's default
    # spinning pool on a shared 2-core machine (scripts/bench_serving.py; same CPU time, lower wall time
    # under contention). Concurrency comes from serving several requests at once, not from one request.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(data, options, providers=chosen)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ExportError(f"ONNX Runtime cannot load {os.fspath(path)!r}: {exc}") from exc


def _initializers(graph: Any, depth: int = 0) -> list[Any]:
    """Every tensor stored in ``graph``: initializers, node attributes and their subgraphs."""
    if depth > 64:
        raise ExportError("the ONNX graph nests subgraphs more than 64 deep; refused.")
    tensors = list(graph.initializer)
    for sparse in graph.sparse_initializer:
        tensors += [sparse.values, sparse.indices]
    return tensors + _node_tensors(graph.node, depth)


def _node_tensors(nodes: Any, depth: int) -> list[Any]:
    tensors: list[Any] = []
    for node in nodes:
        for attr in node.attribute:
            tensors += [attr.t, *attr.tensors, attr.sparse_tensor.values, attr.sparse_tensor.indices]
            for sparse in attr.sparse_tensors:
                tensors += [sparse.values, sparse.indices]
            for sub in [attr.g, *attr.graphs]:
                tensors += _initializers(sub, depth + 1)
    return tensors


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
        # settled once: the graph outputs to ask for, and which input (if any) carries serialized Examples
        self._sources = {k: v["source"] for k, v in self.outputs.items()}
        self._wanted = sorted(set(self._sources.values()))
        self._input_keys = frozenset(self.inputs)
        serialized = self.inputs.get("inputs", self.inputs.get("examples"))
        self._records_key = (
            next(iter(self.inputs))
            if serialized is not None and serialized.get("dtype") == "string" and len(self.inputs) == 1
            else None
        )

    def __call__(self, **inputs: Any) -> dict[str, np.ndarray]:
        """Run the signature; returns ``{output key: array}``.

        Raises:
            InvalidArgumentError: missing or unknown input keys.
            FeatureError: a feature is missing or has the wrong type (the error names it).
        """
        if inputs.keys() != self._input_keys:
            unknown = sorted(set(inputs) - set(self.inputs))
            missing = sorted(set(self.inputs) - set(inputs))
            raise InvalidArgumentError(
                f"signature {self.name!r} takes inputs {sorted(self.inputs)}; missing {missing}, unknown {unknown}"
                f"{did_you_mean(unknown[0], list(self.inputs)) if unknown else ''}."
            )
        if self._records_key is not None:
            results = self._predictor._serve_records(inputs[self._records_key], self._wanted)
        else:  # a receiver key may feed a feature of another name (TF's receiver_tensors)
            features = {self.inputs[k].get("feature", k): v for k, v in inputs.items()}
            results = self._predictor.run(features, self._wanted)
        return {k: results[src] for k, src in self._sources.items()}


class Predictor:
    """A loaded export (see :func:`load`)."""

    def __init__(
        self,
        export_dir: str,
        backend: str | None = None,
        custom_objects: Mapping[str, Any] | None = None,
        providers: Sequence[str] | None = None,
    ) -> None:
        from torchestimator.export.saved_model import parse_spec_from_json
        from torchestimator.export.wire import HostStep, WireInput
        from torchestimator.inputs.example_parser import ExampleParser
        from torchestimator.serving.manifest import export_file, read_manifest, resolve_vocabularies
        from torchestimator.serving.safe_pt2 import load_pt2_module

        if backend is not None and backend not in BACKENDS:
            raise InvalidArgumentError(
                f"backend must be one of {list(BACKENDS)} or None (automatic); received {backend!r}."
            )
        self.manifest: dict[str, Any] = read_manifest(export_dir)
        has_onnx = self.manifest.get("onnx") is not None
        if backend is None:
            backend = "onnxruntime" if has_onnx else "torch"
        elif backend == "onnxruntime" and not has_onnx:
            raise ExportError(
                f"{export_dir!r} has no model.onnx (it was exported without the [onnx] extra); load it with "
                "serving.load(path, backend='torch'), or re-export with pip install 'torchestimator[onnx]'."
            )
        self.export_dir = export_dir
        self.backend = backend
        graph = self.manifest["onnx" if backend == "onnxruntime" else "torch"]
        path = export_file(export_dir, graph["file"], "model file")
        resolve_vocabularies(graph["inputs"], export_dir)
        try:
            self.parse_spec = parse_spec_from_json(self.manifest["parse_spec"])
            self._parser = ExampleParser(self.parse_spec, small_batch=_SMALL_BATCH)
            self._inputs = {i["name"]: WireInput.from_json(i) for i in graph["inputs"]}
            self.host_step = HostStep(self._inputs, custom_objects)
            self._parsed_host = self.host_step.for_parsed(self.parse_spec)
        except ExportError:
            raise
        except (TypeError, ValueError, KeyError) as exc:  # a field the structure check lets through
            raise ExportError(
                f"{os.path.join(export_dir, 'saved_model.json')!r} describes inputs torchestimator cannot "
                f"rebuild: {exc}"
            ) from exc
        self._graph_outputs: list[str] = list(graph["outputs"])
        self._fetch_plans: dict[tuple[str, ...], tuple[list[str], dict[str, str]]] = {}
        names = self.manifest.get("class_names")
        self._class_names = (
            None if names is None else np.array([n.encode("utf-8") for n in names], dtype=object)
        )
        if backend == "onnxruntime":
            self._session = _onnx_session(path, providers)
        else:
            self._program = load_pt2_module(path)
        self.signatures = {
            name: Signature(self, name, data) for name, data in self.manifest["signatures"].items()
        }

    def parse(self, serialized: Sequence[bytes] | np.ndarray) -> dict[str, Any]:
        """Parse serialized ``tf.Example`` with the export's parse spec.

        Raises:
            FeatureError: a required feature is missing or has the wrong type.
        """
        from torchestimator.errors import InputError

        if isinstance(serialized, (bytes, bytearray)):
            serialized = [bytes(serialized)]
        try:
            return self._parser(serialized)
        except InputError as err:
            raise FeatureError(str(err)) from err

    def _serve_records(self, serialized: Any, outputs: Sequence[str]) -> dict[str, np.ndarray]:
        """Parse, host step, graph: :meth:`run` on :meth:`parse`'s features, with the host step planned
        for the parse spec at load (:meth:`HostStep.for_parsed`; the same arrays, the same errors)."""
        features = self.parse(serialized)
        host = self._parsed_host
        if host is None or not _batch_size(features):
            return self.run(features, outputs)
        return self._run_wire(host(features), list(outputs))

    def run(self, features: Mapping[str, Any], outputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Run the graph on raw features; returns the requested outputs (all by default)."""
        wanted = list(outputs) if outputs is not None else list(self.manifest["outputs"])
        return self._run_wire(self.host_step(features), wanted)

    def _run_wire(self, wire: Mapping[str, np.ndarray], wanted: list[str]) -> dict[str, np.ndarray]:
        """The graph on its host-step inputs."""
        if self.backend == "onnxruntime":
            return self._run_onnx(wire, wanted)
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

    def _onnx_fetch(self, wanted: list[str]) -> tuple[list[str], dict[str, str]]:
        """The graph outputs to fetch for ``wanted``, and ``{class names output: class ids output}`` of
        those answered from the class ids in numpy (string outputs of the graph cost ~1 us per value to
        convert to bytes); worked out once per list of outputs."""
        key = tuple(wanted)
        plan = self._fetch_plans.get(key)
        if plan is None:
            by_ids = {"classes": "class_ids", "all_classes": "all_class_ids"}
            mapped = {
                k: v
                for k, v in by_ids.items()
                if k in wanted and self._class_names is not None and v in self._graph_outputs
            }
            asked = list(dict.fromkeys([w for w in wanted if w not in mapped] + list(mapped.values())))
            plan = self._fetch_plans[key] = (asked, mapped)
        return plan

    def _run_onnx(self, wire: Mapping[str, np.ndarray], wanted: list[str]) -> dict[str, np.ndarray]:
        """ONNX Runtime outputs; class names come from the class ids where the export lists them."""
        asked, mapped = self._onnx_fetch(wanted)
        result = dict(zip(asked, self._session.run(asked, wire)))
        for key, ids in mapped.items():
            result[key] = self._class_names[result[ids]]  # type: ignore[index]
        for key in ("classes", "all_classes"):
            if key in result and key not in mapped:
                result[key] = np.vectorize(
                    lambda s: s.encode("utf-8") if isinstance(s, str) else s, otypes=[object]
                )(result[key])
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
        wanted = sorted(set(sources.values()))
        if isinstance(inputs, Mapping):
            results = self.run(inputs, wanted)
        else:
            results = self._serve_records(inputs, wanted)
        return {k: results[src] for k, src in sources.items()}


def _batch_size(features: Mapping[str, Any]) -> int:
    """The number of examples of a parse output (0 for an empty batch or spec)."""
    for value in features.values():
        return len(value)
    return 0


def load(
    export_dir: str | os.PathLike[str],
    backend: str | None = None,
    custom_objects: Mapping[str, Any] | None = None,
    providers: Sequence[str] | None = None,
) -> Predictor:
    """Load an export written by ``export_saved_model``.

    Args:
        export_dir: the ``<timestamp>`` directory.
        backend: ``'onnxruntime'`` (model.onnx), ``'torch'`` (model.pt2), or None: ONNX Runtime when the
            export has a model.onnx, else the torch program (an export made without the [onnx] extra).
        custom_objects: ``{name: callable}`` for callables the export's columns name (a numeric
            column's ``normalizer_fn`` under a crossed or bucketized column), by ``"module:qualname"``
            or bare name. Nothing named in the export is ever imported: a callable that is neither
            here nor registered with :func:`torchestimator.columns.register_callable` is an error.
        providers: ONNX Runtime execution providers in priority order, e.g.
            ``["CUDAExecutionProvider", "CPUExecutionProvider"]`` (default: CPU only).

    Returns:
        A :class:`Predictor`.

    Nothing read from ``export_dir`` runs code: ``model.pt2`` is checked member by member and never
    unpickled (:mod:`torchestimator.serving.safe_pt2`), every file the manifest names must be a regular
    file inside ``export_dir``, and vocabulary files must match their recorded sha256
    (:mod:`torchestimator.serving.manifest`; see ``docs/security.md``).

    Raises:
        ExportError: not an export directory, an unknown format, a damaged or hostile manifest or
            model file, a file outside ``export_dir``, a changed vocabulary file, or a callable the
            caller did not supply (each error names the file or the callable).
        InvalidArgumentError: an unknown backend, or a provider this onnxruntime build does not have.
    """
    return Predictor(os.fspath(export_dir), backend, custom_objects, providers)
