"""REST in both formats gives TF Serving's response JSON (api_rest.md's shapes), values equal Estimator.predict."""

from __future__ import annotations

import base64

import numpy as np
from server_support import N, http, json_examples


def test_model_status_is_tf_servings_document(server):
    code, doc = http(server, "/v1/models/titanic")
    assert code == 200
    # api_rest.md: {"model_version_status": [{"version": "123", "state": "AVAILABLE", "status": {...}}]}
    assert doc == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    assert http(server, "/v1/models/titanic/versions/1")[1] == doc
    assert http(server, "/v1/models/titanic/labels/stable")[1] == doc


def test_classify_and_regress_json_examples(server, titanic):
    ref = titanic.reference
    code, doc = http(server, "/v1/models/titanic:classify", {"examples": json_examples(titanic)})
    assert code == 200 and list(doc) == ["result"] and len(doc["result"]) == N
    for row, probs in zip(doc["result"], ref["probabilities"][:N]):
        assert [label for label, _ in row] == ["0", "1"]  # [[label, score], ...] per example
        np.testing.assert_allclose([score for _, score in row], probs, atol=1e-5)
    code, doc = http(
        server,
        "/v1/models/titanic:regress",
        {"signature_name": "regression", "examples": json_examples(titanic)},
    )
    assert code == 200 and list(doc) == ["result"]
    np.testing.assert_allclose(doc["result"], ref["logistic"][:N, 0], atol=1e-5)


def test_classify_context_is_merged_into_each_example(server, titanic):
    rows = json_examples(titanic)
    context = {"sex": rows[0]["sex"], "class": rows[0]["class"]}
    examples = [{k: v for k, v in r.items() if k not in context} for r in rows[:1]]
    code, doc = http(server, "/v1/models/titanic:classify", {"context": context, "examples": examples})
    assert code == 200
    np.testing.assert_allclose(
        [s for _, s in doc["result"][0]], titanic.reference["probabilities"][0], atol=1e-5
    )


def test_predict_row_and_columnar_formats(server, titanic):
    ref = titanic.reference
    b64 = [{"b64": base64.b64encode(e).decode()} for e in titanic.examples[:N]]
    code, doc = http(
        server, "/v1/models/titanic/versions/1:predict", {"signature_name": "predict", "instances": b64}
    )
    assert code == 200 and list(doc) == ["predictions"]
    rows = doc["predictions"]  # several outputs: one object per row
    assert len(rows) == N and set(rows[0]) == {
        "all_class_ids",
        "all_classes",
        "class_ids",
        "classes",
        "logistic",
        "logits",
        "probabilities",
    }
    np.testing.assert_allclose([r["logits"] for r in rows], ref["logits"][:N], atol=1e-5)
    assert [r["classes"] for r in rows] == [[c.decode()] for c in ref["classes"][:N, 0]]
    code, doc = http(
        server, "/v1/models/titanic:predict", {"signature_name": "predict", "inputs": {"examples": b64}}
    )
    assert code == 200 and list(doc) == ["outputs"]
    np.testing.assert_allclose(doc["outputs"]["probabilities"], ref["probabilities"][:N], atol=1e-5)
    assert doc["outputs"]["class_ids"] == ref["class_ids"][:N].tolist()
    # one named output: the name is omitted, "predictions" is the list of row values
    code, doc = http(server, "/v1/models/titanic:predict", {"signature_name": "regression", "instances": b64})
    assert code == 200
    np.testing.assert_allclose(doc["predictions"], ref["logistic"][:N], atol=1e-5)
    code, doc = http(server, "/v1/models/titanic:predict", {"signature_name": "regression", "inputs": b64})
    np.testing.assert_allclose(doc["outputs"], ref["logistic"][:N], atol=1e-5)


def test_metadata_lists_the_signature_defs(server):
    code, doc = http(server, "/v1/models/titanic/metadata")
    assert code == 200
    assert doc["model_spec"] == {"name": "titanic", "signature_name": "", "version": "1"}
    sigs = doc["metadata"]["signature_def"]["signature_def"]
    assert set(sigs) == {"serving_default", "classification", "regression", "predict"}
    default = sigs["serving_default"]
    assert default["method_name"] == "tensorflow/serving/classify"
    assert default["inputs"]["inputs"]["dtype"] == "DT_STRING"
    assert default["inputs"]["inputs"]["tensor_shape"]["dim"] == [{"size": "-1", "name": ""}]
    assert default["outputs"]["scores"]["dtype"] == "DT_FLOAT"


def test_prometheus_metrics_and_health(server):
    import urllib.request

    http(server, "/v1/models/titanic")
    with urllib.request.urlopen(f"http://127.0.0.1:{server.rest_port}/monitoring/prometheus/metrics") as r:
        text = r.read().decode()
    assert ':tensorflow:serving:request_count_total{API="GetModelStatus",entrypoint="REST"' in text
    assert ":tensorflow:serving:request_latency_bucket" in text
    assert ":tensorflow:serving:batching_session:processed_batch_size_count" in text
    assert http(server, "/healthz") == (200, {"status": "ok"})


def test_torch_backend_serves_the_same_answers(titanic, tmp_path):
    from server_support import add_version

    from torchestimator.server import ModelConfig, ModelServer, ServerOptions

    add_version(titanic, str(tmp_path), 1)
    options = ServerOptions(port=-1, rest_api_port=0, file_system_poll_wait_seconds=0, backend="torch")
    with ModelServer([ModelConfig("titanic", str(tmp_path))], options) as srv:
        code, doc = http(srv, "/v1/models/titanic:classify", {"examples": json_examples(titanic)})
    assert code == 200
    np.testing.assert_allclose(
        [[s for _, s in r] for r in doc["result"]], titanic.reference["probabilities"][:N], atol=1e-5
    )
    assert [[label for label, _ in r] for r in doc["result"]] == [["0", "1"]] * N


def test_stop_lets_an_in_flight_request_finish(titanic, tmp_path):
    import threading
    import time

    from server_support import add_version

    from torchestimator.server import BatchingOptions, ModelConfig, ModelServer, ServerOptions

    add_version(titanic, str(tmp_path), 1)
    options = ServerOptions(
        port=-1,
        rest_api_port=0,
        file_system_poll_wait_seconds=0,
        enable_batching=True,
        batching=BatchingOptions(batch_timeout_micros=600_000, num_batch_threads=1),
    )
    srv = ModelServer([ModelConfig("titanic", str(tmp_path))], options).start()
    result: list = []
    client = threading.Thread(
        target=lambda: result.append(
            http(srv, "/v1/models/titanic:classify", {"examples": json_examples(titanic, 1)})
        )
    )
    client.start()
    time.sleep(0.2)  # the request now waits in the batch queue
    srv.stop()
    client.join(30)
    assert result and result[0][0] == 200
    np.testing.assert_allclose(
        [s for _, s in result[0][1]["result"][0]], titanic.reference["probabilities"][0], atol=1e-5
    )
