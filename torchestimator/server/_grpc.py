"""TF Serving's gRPC services on grpcio generic handlers, with the runtime-built messages of :mod:`._protos`.

``/tensorflow.serving.PredictionService/{Predict,Classify,Regress,GetModelMetadata}`` and
``/tensorflow.serving.ModelService/GetModelStatus``: the method paths, request and response messages of
``tensorflow_serving/apis/*_service.proto``, so ``prediction_service_pb2_grpc.PredictionServiceStub`` and
``model_service_pb2_grpc.ModelServiceStub`` work unchanged. Failures abort the call with TF Serving's status
code and message. ``MultiInference`` and ``HandleReloadConfigRequest`` answer UNIMPLEMENTED.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from torchestimator.server import _protos as pb
from torchestimator.server._service import ModelSpec, PredictionService, signature_def_json
from torchestimator.server._status import CODES, ServingError, status_from_exception
from torchestimator.server._tensors import DATA_TYPES, make_tensor_proto, numpy_from_tensor_proto

__all__ = ["make_grpc_server"]

_GRPC_LIMIT = 4 << 20  # TF Serving's default --grpc_max_message_size... of gRPC itself (4 MiB)
_STATE = {"UNKNOWN": 0, "START": 10, "LOADING": 20, "AVAILABLE": 30, "UNLOADING": 40, "END": 50}


def _grpc() -> Any:
    try:
        import grpc
    except ImportError as err:  # pragma: no cover - the [serve] extra installs it
        raise ImportError("torchestimator serve needs grpcio: pip install 'torchestimator[serve]'") from err
    return grpc


def _spec(proto: Any) -> ModelSpec:
    choice = proto.WhichOneof("version_choice")
    return ModelSpec(
        proto.name,
        proto.version.value if choice == "version" else None,
        proto.version_label if choice == "version_label" else None,
        proto.signature_name,
    )


def _fill_spec(out: Any, name: str, version: int, signature_name: str) -> None:
    out.name = name
    out.version.value = version
    out.signature_name = signature_name


class _Handlers:
    def __init__(self, service: PredictionService, metrics: Any) -> None:
        self.service = service
        self.metrics = metrics

    def _run(self, api: str, fn: Callable[[Any], Any], request: Any, context: Any) -> Any:
        start = time.perf_counter()
        model = getattr(getattr(request, "model_spec", None), "name", "")
        try:
            response = fn(request)
        except Exception as err:
            status = status_from_exception(err)
            self.metrics.record(model, api, "GRPC", status.code, time.perf_counter() - start)
            grpc = _grpc()
            context.abort(getattr(grpc.StatusCode, status.code), status.message)
        self.metrics.record(model, api, "GRPC", "OK", time.perf_counter() - start)
        return response

    def _wait(self, servable: Any, future: Any) -> Any:
        try:
            return future.result()
        finally:
            self.service.registry.release(servable)

    def predict(self, request: Any) -> Any:
        spec = _spec(request.model_spec)
        inputs = {k: numpy_from_tensor_proto(v, k) for k, v in request.inputs.items()}
        servable, sig, future = self.service.predict_async(spec, inputs, list(request.output_filter))
        outputs = self._wait(servable, future)
        response = pb.PredictResponse()
        _fill_spec(response.model_spec, spec.name, servable.version, sig.name)
        for key in request.output_filter or outputs:
            response.outputs[key].CopyFrom(make_tensor_proto(outputs[key]))
        return response

    def _examples(self, request: Any, verb: str) -> tuple[ModelSpec, Any, Any, dict[str, Any], int]:
        """Run a Classify / Regress; returns (spec, servable, signature, outputs, example count)."""
        spec = _spec(request.model_spec)
        kind = request.input.WhichOneof("kind")
        if kind == "example_list":
            examples = list(request.input.example_list.examples)
        elif kind == "example_list_with_context":
            context = request.input.example_list_with_context.context
            examples = [context + e for e in request.input.example_list_with_context.examples]
        else:
            examples = []
        servable, sig, future = self.service.examples_async(spec, examples, verb)
        return spec, servable, sig, self._wait(servable, future), len(examples)

    def classify(self, request: Any) -> Any:
        spec, servable, sig, outputs, n = self._examples(request, "classify")
        classes, scores = self.service.classification(outputs, n)
        response = pb.ClassificationResponse()
        _fill_spec(response.model_spec, spec.name, servable.version, sig.name)
        width = (classes if classes is not None else scores).shape[1]  # type: ignore[union-attr]
        for i in range(n):
            row = response.result.classifications.add()
            for j in range(width):
                cls = row.classes.add()
                if classes is not None:
                    label = classes[i, j]
                    cls.label = label.decode("utf-8", "replace") if isinstance(label, bytes) else str(label)
                if scores is not None:
                    cls.score = float(scores[i, j])
        return response

    def regress(self, request: Any) -> Any:
        spec, servable, sig, outputs, n = self._examples(request, "regress")
        values = self.service.regression(outputs, n)
        response = pb.RegressionResponse()
        _fill_spec(response.model_spec, spec.name, servable.version, sig.name)
        for v in values:
            response.result.regressions.add(value=float(v))
        return response

    def metadata(self, request: Any) -> Any:
        for field in request.metadata_field:
            if field != "signature_def":
                raise ServingError("INVALID_ARGUMENT", f"Metadata field {field} is not supported")
        if not request.HasField("model_spec"):
            raise ServingError("INVALID_ARGUMENT", "Missing model_spec")
        spec = _spec(request.model_spec)
        version, sigs = self.service.metadata(spec)
        sigmap = pb.SignatureDefMap()
        for name, sig in sigs.items():
            doc = signature_def_json(sig)
            out = sigmap.signature_def[name]
            out.method_name = doc["method_name"]
            for side in ("inputs", "outputs"):
                for key, info in doc[side].items():
                    tensor = getattr(out, side)[key]
                    tensor.name = info["name"]
                    tensor.dtype = DATA_TYPES[info["dtype"]]
                    for dim in info["tensor_shape"]["dim"]:
                        tensor.tensor_shape.dim.add(size=int(dim["size"]))
        response = pb.GetModelMetadataResponse()
        _fill_spec(response.model_spec, spec.name, version, "")
        response.metadata["signature_def"].Pack(sigmap)
        return response

    def status(self, request: Any) -> Any:
        if not request.HasField("model_spec"):
            raise ServingError("INVALID_ARGUMENT", "Missing ModelSpec")
        spec = _spec(request.model_spec)
        version = spec.version
        if spec.label is not None:
            config = self.service.registry.configs.get(spec.name)
            version = None if config is None else config.version_labels.get(spec.label)
            if version is None:
                raise ServingError("INVALID_ARGUMENT", f"Unrecognized servable version label: {spec.label}")
        response = pb.GetModelStatusResponse()
        for v, state, error in self.service.registry.status(spec.name, version):
            row = response.model_version_status.add(version=v, state=_STATE[state])
            row.status.error_code = CODES["UNKNOWN"] if error else 0
            row.status.error_message = error
        return response


def make_grpc_server(
    service: PredictionService,
    metrics: Any,
    host: str,
    port: int,
    num_threads: int = 16,
    max_message_bytes: int = _GRPC_LIMIT,
) -> tuple[Any, int]:
    """A started ``grpc.Server`` bound to ``host:port`` (0 = ephemeral); returns ``(server, bound port)``."""
    grpc = _grpc()
    handlers = _Handlers(service, metrics)

    def unary(api: str, fn: Callable[[Any], Any], req_cls: Any, resp_cls: Any) -> Any:
        return grpc.unary_unary_rpc_method_handler(
            lambda request, context: handlers._run(api, fn, request, context),
            request_deserializer=req_cls.FromString,
            response_serializer=resp_cls.SerializeToString,
        )

    def unimplemented(request: Any, context: Any) -> Any:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "Not implemented by torchestimator serve.")

    raw = grpc.unary_unary_rpc_method_handler(unimplemented, request_deserializer=lambda b: b)
    prediction = grpc.method_handlers_generic_handler(
        "tensorflow.serving.PredictionService",
        {
            "Predict": unary("Predict", handlers.predict, pb.PredictRequest, pb.PredictResponse),
            "Classify": unary(
                "Classify", handlers.classify, pb.ClassificationRequest, pb.ClassificationResponse
            ),
            "Regress": unary("Regress", handlers.regress, pb.RegressionRequest, pb.RegressionResponse),
            "GetModelMetadata": unary(
                "GetModelMetadata", handlers.metadata, pb.GetModelMetadataRequest, pb.GetModelMetadataResponse
            ),
            "MultiInference": raw,
        },
    )
    model = grpc.method_handlers_generic_handler(
        "tensorflow.serving.ModelService",
        {
            "GetModelStatus": unary(
                "GetModelStatus", handlers.status, pb.GetModelStatusRequest, pb.GetModelStatusResponse
            ),
            "HandleReloadConfigRequest": raw,
        },
    )
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", -1),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.server(
        ThreadPoolExecutor(max_workers=num_threads, thread_name_prefix="te-grpc"),
        handlers=[prediction, model],
        options=options,
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind the gRPC port {host}:{port}")
    server.start()
    return server, bound
