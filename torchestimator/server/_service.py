"""Predict / Classify / Regress / metadata / status on the served models, shared by the REST and gRPC fronts.

Each call resolves the servable (a version, a label or the latest), checks the request against the
signature as TF Serving does (same checks, same messages, same status codes) and runs the signature
through the runner (the batcher or a thread pool). Inputs and outputs are numpy arrays; the fronts
translate JSON / protos.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np

from torchestimator.server._model_registry import ModelRegistry, Servable
from torchestimator.server._status import ServingError, status_from_exception
from torchestimator.server._tensors import DTYPE_TO_NUMPY, dt_name

__all__ = ["CLASSIFY_METHOD", "PREDICT_METHOD", "REGRESS_METHOD", "ModelSpec", "PredictionService"]

DEFAULT_SIGNATURE = "serving_default"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
PREDICT_METHOD = "tensorflow/serving/predict"


class ModelSpec:
    """What a request names: model, version or label, signature."""

    def __init__(
        self, name: str, version: int | None = None, label: str | None = None, signature_name: str = ""
    ) -> None:
        if version is not None and label is not None:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Both model version ({version}) and model version label ({label}) cannot be supplied.",
            )
        self.name = name
        self.version = version
        self.label = label
        self.signature_name = signature_name


def _numpy_kind(arr: np.ndarray) -> str:
    return "string" if arr.dtype == object or arr.dtype.kind in "SU" else str(arr.dtype)


class PredictionService:
    """The serving operations over a :class:`ModelRegistry` and a runner (``submit(key, call, inputs)``)."""

    def __init__(self, registry: ModelRegistry, runner: Any, on_batch: Any = None) -> None:
        self.registry = registry
        self.runner = runner
        self.on_batch = on_batch

    # -- signatures ---------------------------------------------------------------------------------------
    @staticmethod
    def signature(servable: Servable, name: str, verb: str) -> Any:
        """The signature a request names (``serving_default`` when empty), checked for ``verb``."""
        sig_name = name or DEFAULT_SIGNATURE
        sig = servable.predictor.signatures.get(sig_name)
        if verb == "predict":
            if sig is None:
                raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{sig_name}" not found.')
            return sig
        if sig is None:
            raise ServingError("INVALID_ARGUMENT", f"No signature was found with the name: {sig_name}")
        expected = CLASSIFY_METHOD if verb == "classify" else REGRESS_METHOD
        if sig.method_name != expected:
            kind = "classification" if verb == "classify" else "regression"
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Expected {kind} signature method_name to be {expected}. Was: {sig.method_name}",
            )
        if len(sig.inputs) != 1:
            raise ServingError("INVALID_ARGUMENT", "Expected one input Tensor.")
        return sig

    def input_dtypes(self, spec: ModelSpec) -> dict[str, str]:
        """``{input key: manifest dtype}`` of the named signature (the REST front's ``GetInfoMap``)."""
        with self.registry.acquire(spec.name, spec.version, spec.label) as servable:
            sig_name = spec.signature_name or DEFAULT_SIGNATURE
            sig = servable.predictor.signatures.get(sig_name)
            if sig is None:
                raise ServingError(
                    "INVALID_ARGUMENT", f'Serving signature name: "{sig_name}" not found in signature def'
                )
            return {k: v["dtype"] for k, v in sig.inputs.items()}

    # -- running ------------------------------------------------------------------------------------------
    def _submit(self, servable: Servable, sig: Any, inputs: dict[str, np.ndarray]) -> Future:
        def call(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return sig(**batch)

        try:
            return self.runner.submit((id(servable), sig.name), call, inputs, self.on_batch)
        except ServingError:
            raise
        except Exception as err:
            raise status_from_exception(err) from err

    @staticmethod
    def _check_inputs(sig: Any, inputs: Mapping[str, np.ndarray]) -> None:
        if set(inputs) != set(sig.inputs):
            sent, wanted = sorted(inputs), sorted(sig.inputs)
            raise ServingError(
                "INVALID_ARGUMENT",
                f"input size does not match signature: {len(sent)}!={len(wanted)} len({{{','.join(sent)}}}) != "
                f"len({{{','.join(wanted)}}}). Sent extra: {{{','.join(sorted(set(sent) - set(wanted)))}}}. "
                f"Missing but required: {{{','.join(sorted(set(wanted) - set(sent)))}}}.",
            )
        for i, key in enumerate(sorted(sig.inputs)):
            expected = sig.inputs[key]["dtype"]
            got = _numpy_kind(inputs[key])
            if got != expected:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Expects arg[{i}] ('{key}') to be {dt_name(expected)[3:].lower()} but "
                    f"{dt_name(got)[3:].lower()} is provided",
                )

    def predict_async(
        self, spec: ModelSpec, inputs: dict[str, np.ndarray], output_filter: Sequence[str] = ()
    ) -> tuple[Servable, Any, Future]:
        """Start a Predict; returns (servable, signature, future of outputs). Release the servable after."""
        servable = self.registry.resolve(spec.name, spec.version, spec.label)
        try:
            sig = self.signature(servable, spec.signature_name, "predict")
            self._check_inputs(sig, inputs)
            for alias in output_filter:
                if alias not in sig.outputs:
                    raise ServingError(
                        "INVALID_ARGUMENT",
                        f"output tensor alias not found in signature: {alias} Outputs expected to be in the "
                        f"set {{{','.join(sorted(sig.outputs))}}}.",
                    )
            if len(set(output_filter)) != len(output_filter):
                raise ServingError(
                    "INVALID_ARGUMENT", f"duplicate output tensor alias: {list(output_filter)}"
                )
            return servable, sig, self._submit(servable, sig, inputs)
        except BaseException:
            self.registry.release(servable)
            raise

    def examples_async(
        self, spec: ModelSpec, examples: Sequence[bytes], verb: str
    ) -> tuple[Servable, Any, Future]:
        """Start a Classify or Regress on serialized Examples (context already merged)."""
        servable = self.registry.resolve(spec.name, spec.version, spec.label)
        try:
            sig = self.signature(servable, spec.signature_name, verb)
            if not examples:
                raise ServingError("INVALID_ARGUMENT", "Input is empty.")
            records = np.empty(len(examples), dtype=object)
            records[:] = list(examples)
            return servable, sig, self._submit(servable, sig, {next(iter(sig.inputs)): records})
        except BaseException:
            self.registry.release(servable)
            raise

    @staticmethod
    def classification(
        outputs: Mapping[str, np.ndarray], n: int
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(classes [n, k] bytes or None, scores [n, k] float32 or None)`` from a classify signature's outputs."""
        classes, scores = outputs.get("classes"), outputs.get("scores")
        if classes is None and scores is None:
            raise ServingError(
                "INVALID_ARGUMENT",
                'Expected classification signature outputs to contain at least one of "classes" or "scores".',
            )
        for name, value in (("classes", classes), ("scores", scores)):
            if value is not None and (value.ndim != 2 or value.shape[0] != n):
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Expected Tensor shape: [batch_size num_classes] but got {list(value.shape)} ({name})",
                )
        return classes, (None if scores is None else scores.astype(np.float32))

    @staticmethod
    def regression(outputs: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """The ``[n]`` float32 values of a regress signature's ``outputs``."""
        value = outputs.get("outputs")
        if value is None:
            raise ServingError("INVALID_ARGUMENT", "No regression outputs found in SignatureDef")
        if not (value.ndim == 1 or (value.ndim == 2 and value.shape[1] == 1)) or value.shape[0] != n:
            raise ServingError(
                "INVALID_ARGUMENT",
                "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
                f"{list(value.shape)}",
            )
        return value.reshape(-1).astype(np.float32)

    # -- metadata -----------------------------------------------------------------------------------------
    def metadata(self, spec: ModelSpec) -> tuple[int, dict[str, Any]]:
        """``(version, {signature name: {inputs, outputs, method_name}})`` of the named version."""
        with self.registry.acquire(spec.name, spec.version, spec.label) as servable:
            sigs = {
                name: {"inputs": sig.inputs, "outputs": sig.outputs, "method_name": sig.method_name}
                for name, sig in servable.predictor.signatures.items()
            }
            return servable.version, sigs


def signature_def_json(sig: Mapping[str, Any]) -> dict[str, Any]:
    """One signature as TF Serving's metadata JSON prints a ``SignatureDef``."""

    def info(key: str, spec: Mapping[str, Any], output: bool) -> dict[str, Any]:
        return {
            "dtype": dt_name(spec["dtype"]),
            "tensor_shape": {
                "dim": [{"size": str(d), "name": ""} for d in spec["shape"]],
                "unknown_rank": False,
            },
            "name": f"{spec.get('source', key) if output else key}:0",
        }

    return {
        "inputs": {k: info(k, v, False) for k, v in sig["inputs"].items()},
        "outputs": {k: info(k, v, True) for k, v in sig["outputs"].items()},
        "method_name": sig["method_name"],
        "defaults": {},
    }


def numpy_dtype(dtype: str) -> Any:
    """The numpy dtype of a manifest dtype name."""
    return DTYPE_TO_NUMPY.get(dt_name(dtype), object)
