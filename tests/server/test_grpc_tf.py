"""The official TF Serving gRPC client (tensorflow-serving-api 2.15.1 in the TF venv) works unchanged."""

from __future__ import annotations

import base64
import json
import os
import subprocess

import numpy as np
import pytest
from server_support import N
from tf_support import require_tf_python

pytestmark = pytest.mark.tf


def test_official_client_predict_classify_regress_metadata_status(server, titanic, tmp_path):
    tf_python = require_tf_python()
    path = tmp_path / "examples.json"
    path.write_text(json.dumps([base64.b64encode(e).decode() for e in titanic.examples[:N]]))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", None)  # the client runs as users run it (upb protobuf)
    script = os.path.join(os.path.dirname(__file__), "tf_grpc_client.py")
    proc = subprocess.run(
        [tf_python, script, f"127.0.0.1:{server.grpc_port}", "titanic", str(path)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    ref = titanic.reference
    for key in ("logits", "logistic", "probabilities"):
        np.testing.assert_allclose(out["predict"][key], ref[key][:N], atol=1e-5, err_msg=key)
    assert out["predict"]["class_ids"] == ref["class_ids"][:N].tolist()
    assert out["predict_classes"] == [c.decode() for c in ref["classes"][:N, 0]]
    assert out["predict_spec"] == ["titanic", 1, "predict"]
    np.testing.assert_allclose(out["logits_float_val"], ref["logits"][:N, 0], atol=1e-5)  # typed field, as TF
    assert [[label for label, _ in row] for row in out["classify"]] == [["0", "1"]] * N
    np.testing.assert_allclose(
        [[s for _, s in row] for row in out["classify"]], ref["probabilities"][:N], atol=1e-5
    )
    np.testing.assert_allclose(out["regress"], ref["logistic"][:N, 0], atol=1e-5)
    np.testing.assert_allclose(out["regress_context"], ref["logistic"][:1, 0], atol=1e-5)
    assert out["metadata"]["serving_default"] == [
        "tensorflow/serving/classify",
        ["inputs"],
        ["classes", "scores"],
        "string",
    ]
    assert out["metadata"]["regression"][:3] == ["tensorflow/serving/regress", ["inputs"], ["outputs"]]
    assert out["metadata"]["predict"][0] == "tensorflow/serving/predict"
    assert out["status"] == [[1, "AVAILABLE", 0]]
    assert out["bad_signature"] == ["FAILED_PRECONDITION", 'Serving signature key "nope" not found.']
