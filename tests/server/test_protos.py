"""The runtime-built messages match TF Serving's own field by field (fixture dumped from tensorflow-serving-api 2.15.1
by scripts/fixtures/gen_serving_proto_fixtures.py): same numbers, same types, except documented wire twins."""

from __future__ import annotations

import json
import os

import pytest

from torchestimator.server import _protos as pb

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "server", "tf_serving_protos.json")
with open(FIXTURE, encoding="utf-8") as fh:
    TF = json.load(fh)

# Fields the server never reads or writes (protobuf keeps or skips them as unknown fields).
UNUSED = {
    ("tensorflow.TensorProto", "resource_handle_val"),
    ("tensorflow.TensorProto", "variant_val"),
    ("tensorflow.TensorProto", "float8_val"),
    ("tensorflow.TensorInfo", "coo_sparse"),
    ("tensorflow.TensorInfo", "composite_tensor"),
    ("tensorflow.serving.PredictRequest", "predict_streamed_options"),
    ("tensorflow.serving.PredictRequest", "client_id"),
    ("tensorflow.serving.ModelConfig", "logging_config"),
    ("tensorflow.serving.ModelServerConfig", "custom_model_config"),
}
MESSAGE, BYTES, INT32, ENUM = 11, 12, 5, 14
# Same wire encoding, different declared type (see _protos' docstring): Examples arrive as bytes; enums we only
# pass through are int32.
TWINS = {
    ("tensorflow.serving.ExampleList", "examples"): (MESSAGE, BYTES),
    ("tensorflow.serving.ExampleListWithContext", "examples"): (MESSAGE, BYTES),
    ("tensorflow.serving.ExampleListWithContext", "context"): (MESSAGE, BYTES),
    ("tensorflow.serving.ModelConfig", "model_type"): (ENUM, INT32),
}
POOL = pb.PredictRequest.DESCRIPTOR.file.pool


@pytest.mark.parametrize("name", sorted(TF["messages"]))
def test_message_layout_matches_tf_serving(name):
    ours = {f.name: f for f in POOL.FindMessageTypeByName(name).fields}
    theirs = TF["messages"][name]
    assert set(ours) | {f for m, f in UNUSED if m == name} == set(theirs), name
    for field, (number, ftype, label, target) in theirs.items():
        if field not in ours:
            continue
        mine = ours[field]
        repeated = mine.is_repeated if hasattr(mine, "is_repeated") else mine.label == 3  # protobuf 7 / older
        assert (mine.number, 3 if repeated else 1) == (number, label), f"{name}.{field}"
        if (name, field) in TWINS:
            assert (ftype, mine.type) == TWINS[(name, field)], f"{name}.{field}"
            continue
        assert mine.type == ftype, f"{name}.{field}"
        mine_target = mine.message_type or mine.enum_type
        assert (mine_target.full_name if mine_target else "") == target, f"{name}.{field}"


def test_tf_serving_bytes_parse_into_ours_and_back():
    from torchestimator.server._tensors import numpy_from_tensor_proto

    samples = TF["samples"]
    raw = bytes.fromhex(samples["classify_request"])
    request = pb.ClassificationRequest.FromString(raw)
    assert (request.model_spec.name, request.model_spec.version.value) == ("m", 7)
    with_context = request.input.example_list_with_context
    assert list(with_context.examples) == [bytes.fromhex(samples["example"])]  # the Example, still serialized
    assert with_context.context == bytes.fromhex(samples["context"])
    assert request.SerializeToString() == raw
    predict = pb.PredictRequest.FromString(bytes.fromhex(samples["predict_request"]))
    assert numpy_from_tensor_proto(predict.inputs["x"], "x").tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert numpy_from_tensor_proto(predict.inputs["s"], "s").tolist() == [b"a", b"bc"]
    assert list(predict.output_filter) == ["y"] and predict.model_spec.signature_name == "predict"
    ours = pb.GetModelStatusResponse()
    ours.model_version_status.add(
        version=5, state=30
    ).status.SetInParent()  # an OK status, as the server sends
    assert ours.SerializeToString() == bytes.fromhex(samples["status_response"])
