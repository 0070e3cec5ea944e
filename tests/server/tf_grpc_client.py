"""Runs in the TensorFlow venv: the official tensorflow-serving-api stubs against our server, results as JSON.

.tfvenv/bin/python tests/server/tf_grpc_client.py HOST:PORT MODEL EXAMPLES_JSON
"""

from __future__ import annotations

import base64
import json
import sys

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)


def main() -> None:
    target, model, path = sys.argv[1:4]
    with open(path, encoding="utf-8") as fh:
        examples = [base64.b64decode(s) for s in json.load(fh)]
    channel = grpc.insecure_channel(target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    out: dict = {}

    req = predict_pb2.PredictRequest()
    req.model_spec.name = model
    req.model_spec.signature_name = "predict"
    req.inputs["examples"].CopyFrom(tf.make_tensor_proto(examples, dtype=tf.string))
    resp = stub.Predict(req, timeout=30)
    out["predict"] = {
        k: tf.make_ndarray(v).tolist()
        for k, v in resp.outputs.items()
        if v.dtype != tf.string.as_datatype_enum
    }
    out["predict_classes"] = [c.decode() for c in tf.make_ndarray(resp.outputs["classes"]).reshape(-1)]
    out["predict_spec"] = [
        resp.model_spec.name,
        resp.model_spec.version.value,
        resp.model_spec.signature_name,
    ]
    out["logits_float_val"] = list(resp.outputs["logits"].float_val)

    req = classification_pb2.ClassificationRequest()
    req.model_spec.name = model
    req.input.example_list.examples.extend(tf.train.Example.FromString(e) for e in examples)
    resp = stub.Classify(req, timeout=30)
    out["classify"] = [[[c.label, c.score] for c in row.classes] for row in resp.result.classifications]

    req = regression_pb2.RegressionRequest()
    req.model_spec.name = model
    req.model_spec.signature_name = "regression"
    first = tf.train.Example.FromString(examples[0])
    context = tf.train.Example()
    context.features.feature["sex"].CopyFrom(first.features.feature["sex"])
    rest = tf.train.Example()
    for key, feat in first.features.feature.items():
        if key != "sex":
            rest.features.feature[key].CopyFrom(feat)
    req.input.example_list_with_context.context.CopyFrom(context)
    req.input.example_list_with_context.examples.append(rest)
    out["regress_context"] = [r.value for r in stub.Regress(req, timeout=30).result.regressions]
    req.input.example_list.examples.extend(tf.train.Example.FromString(e) for e in examples)
    out["regress"] = [r.value for r in stub.Regress(req, timeout=30).result.regressions]

    req = get_model_metadata_pb2.GetModelMetadataRequest()
    req.model_spec.name = model
    req.metadata_field.append("signature_def")
    resp = stub.GetModelMetadata(req, timeout=30)
    sigmap = get_model_metadata_pb2.SignatureDefMap()
    resp.metadata["signature_def"].Unpack(sigmap)
    out["metadata"] = {
        name: [
            sig.method_name,
            sorted(sig.inputs),
            sorted(sig.outputs),
            tf.dtypes.as_dtype(sig.inputs[next(iter(sig.inputs))].dtype).name,
        ]
        for name, sig in sigmap.signature_def.items()
    }

    status_stub = model_service_pb2_grpc.ModelServiceStub(channel)
    req = get_model_status_pb2.GetModelStatusRequest()
    req.model_spec.name = model
    resp = status_stub.GetModelStatus(req, timeout=30)
    out["status"] = [
        [s.version, get_model_status_pb2.ModelVersionStatus.State.Name(s.state), s.status.error_code]
        for s in resp.model_version_status
    ]

    req = predict_pb2.PredictRequest()
    req.model_spec.name = model
    req.model_spec.signature_name = "nope"
    req.inputs["examples"].CopyFrom(tf.make_tensor_proto(examples, dtype=tf.string))
    try:
        stub.Predict(req, timeout=30)
        out["bad_signature"] = None
    except grpc.RpcError as err:
        out["bad_signature"] = [err.code().name, err.details()]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
