"""gRPC without TensorFlow on the client either: our runtime-built messages over a plain grpc channel.

(The official client is checked in test_grpc_tf.py; this covers raw-receiver tensors, tensor_content
inputs and the status codes.)
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from torchestimator.server import _protos as pb
from torchestimator.server._tensors import make_tensor_proto, numpy_from_tensor_proto


def _call(server, method: str, request, response_cls):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        service = "ModelService" if method == "GetModelStatus" else "PredictionService"
        rpc = channel.unary_unary(
            f"/tensorflow.serving.{service}/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_cls.FromString,
        )
        return rpc(request, timeout=30)


def _iris_request(case, n, content: bool):
    req = pb.PredictRequest()
    req.model_spec.name = "iris"
    req.model_spec.signature_name = "predict"
    for key, values in case.sample.items():
        arr = np.asarray(values[:n], np.float32)
        tensor = req.inputs[key]
        if content:  # tensor_content, as tf.make_tensor_proto writes numeric arrays
            tensor.dtype = pb.DATA_TYPES["DT_FLOAT"]
            tensor.tensor_shape.dim.add(size=n)
            tensor.tensor_content = arr.tobytes()
        else:
            tensor.CopyFrom(make_tensor_proto(arr))
    return req


@pytest.mark.parametrize("content", [False, True])
def test_predict_raw_receiver_tensors(two_models, iris_raw, content):
    case = iris_raw[0]
    resp = _call(two_models, "Predict", _iris_request(case, 6, content), pb.PredictResponse)
    np.testing.assert_allclose(
        numpy_from_tensor_proto(resp.outputs["probabilities"], "p"),
        case.reference["probabilities"][:6],
        atol=1e-5,
    )
    assert resp.model_spec.name == "iris" and resp.model_spec.signature_name == "predict"
    req = _iris_request(case, 6, content)
    req.output_filter.append("class_ids")
    resp = _call(two_models, "Predict", req, pb.PredictResponse)
    assert list(resp.outputs) == ["class_ids"]
    assert list(resp.outputs["class_ids"].int64_val) == case.reference["class_ids"][:6, 0].tolist()


def test_status_codes(two_models, iris_raw):
    case = iris_raw[0]
    req = _iris_request(case, 2, False)
    del req.inputs["SepalWidth"]
    with pytest.raises(grpc.RpcError) as info:
        _call(two_models, "Predict", req, pb.PredictResponse)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Missing but required: {SepalWidth}" in info.value.details()
    req = _iris_request(case, 2, False)
    req.inputs["SepalWidth"].CopyFrom(make_tensor_proto(np.zeros(2, np.float64)))
    with pytest.raises(grpc.RpcError) as info:
        _call(two_models, "Predict", req, pb.PredictResponse)
    assert (
        info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        and "to be float but double is provided" in info.value.details()
    )
    req = _iris_request(case, 2, False)
    req.model_spec.version.value = 99
    with pytest.raises(grpc.RpcError) as info:
        _call(two_models, "Predict", req, pb.PredictResponse)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND and "Specific(iris, 99)" in info.value.details()
    classify = pb.ClassificationRequest()
    classify.model_spec.name = "titanic"
    with pytest.raises(grpc.RpcError) as info:
        _call(two_models, "Classify", classify, pb.ClassificationResponse)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and info.value.details() == "Input is empty."
    status = pb.GetModelStatusRequest()
    status.model_spec.name = "titanic"
    resp = _call(two_models, "GetModelStatus", status, pb.GetModelStatusResponse)
    assert [(s.version, s.state) for s in resp.model_version_status] == [(5, 30)]  # AVAILABLE


def test_rest_row_format_with_named_inputs(two_models, iris_raw):
    from server_support import http

    case = iris_raw[0]
    rows = [{k: float(v[i]) for k, v in case.sample.items()} for i in range(4)]
    code, doc = http(two_models, "/v1/models/iris:predict", {"instances": rows})
    # a raw receiver's export has only `predict` (as TF's): the default signature is missing
    assert (
        code == 400 and doc["error"] == 'Serving signature name: "serving_default" not found in signature def'
    )
    code, doc = http(two_models, "/v1/models/iris:predict", {"signature_name": "predict", "instances": rows})
    assert code == 200, doc
    np.testing.assert_allclose(
        [r["logits"] for r in doc["predictions"]], case.reference["logits"][:4], atol=1e-5
    )
    columns = {k: [float(x) for x in v[:4]] for k, v in case.sample.items()}
    code, doc = http(two_models, "/v1/models/iris:predict", {"signature_name": "predict", "inputs": columns})
    np.testing.assert_allclose(
        doc["outputs"]["probabilities"], case.reference["probabilities"][:4], atol=1e-5
    )
    del rows[1]["PetalWidth"]
    code, doc = http(two_models, "/v1/models/iris:predict", {"signature_name": "predict", "instances": rows})
    assert code == 400 and "keys must be equal to" in doc["error"]
    code, doc = http(two_models, "/v1/models/iris:classify", {"examples": [{"SepalLength": 1.0}]})
    assert code == 400 and doc["error"] == "No signature was found with the name: serving_default"
