"""Bad requests get TF Serving's {"error": ...} and HTTP code (http_server.cc's table); the server stays up."""

from __future__ import annotations

import base64

import pytest
from server_support import http, json_examples

CASES = [
    # (path, body, HTTP code, part of TF Serving's message)
    (
        "/v1/models/titanic:predict",
        {"signature_name": "nope", "instances": [1]},
        400,
        'Serving signature name: "nope" not found in signature def',
    ),
    (
        "/v1/models/titanic:classify",
        {"signature_name": "nope", "examples": [{}]},
        400,
        "No signature was found with the name: nope",
    ),
    (
        "/v1/models/titanic:classify",
        {"signature_name": "predict", "examples": [{}]},
        400,
        "Expected classification signature method_name to be tensorflow/serving/classify",
    ),
    (
        "/v1/models/titanic:predict",
        {"signature_name": "predict", "inputs": {"other": [1]}},
        400,
        "Missing named input: examples in 'inputs' object.",
    ),
    ("/v1/models/titanic:predict", {"signature_name": "predict"}, 400, "Missing 'inputs' or 'instances' key"),
    (
        "/v1/models/titanic:predict",
        {"signature_name": "predict", "instances": [1.5]},
        400,
        "is not of expected type: string",
    ),
    ("/v1/models/titanic:classify", {"examples": [{"age": "old"}]}, 400, "age"),
    (
        "/v1/models/titanic:classify",
        {"examples": [{"age": [1, 2.5]}]},
        400,
        "Unexpected element type in feature: age expecting type: int64",
    ),
    ("/v1/models/titanic:predict", b'{"instances": [1,', 400, "JSON Parse error"),
    ("/v1/models/titanic:predict", b"", 400, "JSON Parse error: The document is empty"),
    ("/v1/models/titanic:predict", b"[1]", 400, "Is not object"),
    ("/v1/models/titanic:classify", {"examples": []}, 400, "'examples' value is an empty array"),
    (
        "/v1/models/missing:predict",
        {"instances": [1]},
        404,
        "Servable not found for request: Latest(missing)",
    ),
    (
        "/v1/models/titanic/versions/7:predict",
        {"instances": [1]},
        404,
        "Servable not found for request: Specific(titanic, 7)",
    ),
    (
        "/v1/models/titanic/labels/canary:predict",
        {"instances": [1]},
        400,
        "Unrecognized servable version label: canary",
    ),
    ("/v1/models/titanic/versions/7", None, 404, "Could not find version 7 of model titanic"),
    ("/v1/models/missing", None, 404, "Could not find any versions of model missing"),
    (
        "/v1/models/titanic:explain",
        {"instances": [1]},
        400,
        "Malformed request: POST /v1/models/titanic:explain",
    ),
]


@pytest.mark.parametrize(("path", "body", "code", "message"), CASES)
def test_bad_request_gets_tf_servings_error(server, path, body, code, message):
    got_code, doc = http(server, path, body)
    assert got_code == code, doc
    assert list(doc) == ["error"] and message in doc["error"]
    assert http(server, "/v1/models/titanic")[0] == 200  # still serving


def test_missing_feature_is_named(server, titanic):
    example = json_examples(titanic, 1)[0]
    del example["fare"]
    code, doc = http(server, "/v1/models/titanic:classify", {"examples": [example]})
    assert code == 400 and "fare" in doc["error"]


def test_oversized_body_is_refused_and_server_stays_up(server, titanic):
    big = {"instances": [{"b64": base64.b64encode(b"x" * (2 << 20)).decode()}]}  # > max_body_bytes (1 MiB)
    code, doc = http(server, "/v1/models/titanic:predict", big)
    assert code == 413 and "exceeds the limit" in doc["error"]
    code, doc = http(server, "/v1/models/titanic:classify", {"examples": json_examples(titanic, 1)})
    assert code == 200
