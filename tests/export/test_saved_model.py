"""export_saved_model: layout, signature table, graph artifacts against Estimator.predict, errors, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort
import pytest
from export_cases import Case, input_fn, iris
from safetensors.numpy import load_file

from torchestimator.columns import numeric_column
from torchestimator.errors import CheckpointNotFoundError, FeatureError
from torchestimator.export import build_parsing_serving_input_receiver_fn, build_raw_serving_input_receiver_fn
from torchestimator.export.wire import HostStep, WireInput

BINARY_PREDICT = [
    "all_class_ids",
    "all_classes",
    "class_ids",
    "classes",
    "logistic",
    "logits",
    "probabilities",
]


def manifest(case: Case) -> dict:
    with open(os.path.join(case.export_dir, "saved_model.json"), encoding="utf-8") as fh:
        return json.load(fh)


def test_layout_and_weights(case: Case) -> None:
    names = set(os.listdir(case.export_dir))
    assert {"saved_model.json", "model.onnx", "model.pt2", "variables", "assets"} <= names
    assert len(os.path.basename(case.export_dir)) == 10 and os.path.basename(case.export_dir).isdigit()
    assert not [n for n in os.listdir(os.path.dirname(case.export_dir)) if n.startswith("temp-")]
    weights = load_file(os.path.join(case.export_dir, "variables", "weights.safetensors"))
    state = {k: v for k, v in case.est.model.state_dict().items() if hasattr(v, "numpy")}
    assert set(weights) == set(state)
    for k, v in state.items():
        np.testing.assert_array_equal(weights[k], v.numpy())
    assert not [n for n in os.listdir(case.export_dir) if n.endswith((".pkl", ".pickle", ".onnx.data"))]


def test_signature_table_matches_tf(case: Case) -> None:
    sigs = manifest(case)["signatures"]
    binary = case.name != "iris_dnn"
    expected = {"serving_default", "classification", "predict"} | ({"regression"} if binary else set())
    assert set(sigs) == expected
    for name in ("serving_default", "classification"):
        assert sigs[name]["method_name"] == "tensorflow/serving/classify"
        assert sigs[name]["inputs"] == {"inputs": {"dtype": "string", "shape": [-1]}}
        n = 2 if binary else 3
        assert {k: (v["dtype"], v["shape"]) for k, v in sigs[name]["outputs"].items()} == {
            "classes": ("string", [-1, n]),
            "scores": ("float32", [-1, n]),
        }
    assert sigs["predict"]["inputs"] == {"examples": {"dtype": "string", "shape": [-1]}}
    keys = BINARY_PREDICT if binary else [k for k in BINARY_PREDICT if k != "logistic"]
    assert sorted(sigs["predict"]["outputs"]) == keys
    if binary:
        assert sigs["regression"]["method_name"] == "tensorflow/serving/regress"
        assert {k: (v["dtype"], v["shape"]) for k, v in sigs["regression"]["outputs"].items()} == {
            "outputs": ("float32", [-1, 1])
        }
    dtypes = {k: v["dtype"] for k, v in sigs["predict"]["outputs"].items()}
    assert (
        dtypes["class_ids"] == "int64"
        and dtypes["all_class_ids"] == "int32"
        and dtypes["logits"] == "float32"
    )


def _pad(values: list[list], fill: object, dtype: object) -> np.ndarray:
    width = max(1, max(len(r) for r in values))
    out = np.full((len(values), width), fill, dtype=dtype)
    for i, r in enumerate(values):
        out[i, : len(r)] = r
    return out


def test_plain_onnxruntime_session_on_raw_inputs(case: Case) -> None:
    """model.onnx alone: raw numbers and strings in; only hashed / crossed ids come from the host step."""
    graph = manifest(case)["onnx"]
    session = ort.InferenceSession(
        os.path.join(case.export_dir, "model.onnx"), providers=["CPUExecutionProvider"]
    )
    feed = {}
    host_columns = {i["name"]: WireInput.from_json(i) for i in graph["inputs"] if i["kind"] == "ids"}
    for item in graph["inputs"]:
        raw = case.sample.get(item["key"]) if item["key"] else None
        if item["kind"] == "dense":
            feed[item["name"]] = raw.reshape(len(raw), -1).astype(item["dtype"])
        elif item["kind"] == "padded":
            rows = [[v] for v in raw.tolist()]
            feed[item["name"]] = _pad(
                rows,
                "" if item["dtype"] == "string" else -1,
                object if item["dtype"] == "string" else np.int64,
            )
    feed.update(HostStep(host_columns)(case.sample))  # the documented host step: hashing / crossing only
    assert set(feed) == {i.name for i in session.get_inputs()}
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, feed)))
    for key, ref in case.reference.items():
        if ref.dtype == object:
            assert [s.encode() for s in outputs[key].ravel()] == list(ref.ravel())
        else:
            np.testing.assert_allclose(outputs[key], ref, atol=1e-5, rtol=0)


def test_pt2_reloads_in_fresh_process_without_torchestimator(case: Case, tmp_path: object) -> None:
    from torchestimator import serving

    predictor = serving.load(case.export_dir, backend="torch")
    wire = predictor.host_step(case.sample)
    order = [i["name"] for i in manifest(case)["torch"]["inputs"]]
    outputs = manifest(case)["torch"]["outputs"]
    d = str(tmp_path)
    for i, name in enumerate(order):
        np.save(os.path.join(d, f"in{i}.npy"), wire[name])
    script = (
        "import sys, numpy as np, torch\n"
        f"m = torch.export.load({os.path.join(case.export_dir, 'model.pt2')!r}).module()\n"
        f"args = [torch.from_numpy(np.load({d!r} + f'/in{{i}}.npy')) for i in range({len(order)})]\n"
        "out = m(*args)\n"
        f"[np.save({d!r} + f'/out{{i}}.npy', o.detach().numpy()) for i, o in enumerate(out)]\n"
        "assert not any(k.startswith('torchestimator') for k in sys.modules), 'torchestimator was imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-c", script], check=True, cwd=d, env=env, timeout=120)
    for i, key in enumerate(outputs):
        if key in case.reference:
            np.testing.assert_allclose(
                np.load(os.path.join(d, f"out{i}.npy")), case.reference[key], atol=1e-5, rtol=0
            )


def test_raw_receiver_exports_only_predict(tmp_path: object) -> None:
    from torchestimator import serving
    from torchestimator.premade import DNNClassifier

    feats, labels = iris()
    est = DNNClassifier([4], [numeric_column(k) for k in feats], model_dir=str(tmp_path), n_classes=3)
    est.train(input_fn(feats, labels), steps=2)
    path = est.export_saved_model(
        os.path.join(str(tmp_path), "export"),
        build_raw_serving_input_receiver_fn({k: v[:2] for k, v in feats.items()}),
    )
    predictor = serving.load(path)
    assert set(predictor.signatures) == {"predict"}
    sig = predictor.signatures["predict"]
    assert sig.inputs == {k: {"dtype": "float32", "shape": [-1]} for k in feats}
    sample = {k: v[:5] for k, v in feats.items()}
    ref = next(est.predict(lambda: sample, yield_single_examples=False))
    np.testing.assert_allclose(sig(**sample)["probabilities"], ref["probabilities"], atol=1e-5)


def test_no_checkpoint_is_a_clear_error(tmp_path: object) -> None:
    from torchestimator.premade import DNNClassifier

    est = DNNClassifier([4], [numeric_column("x")], model_dir=str(tmp_path), n_classes=3)
    spec = {"x": numeric_column("x").parse_example_spec["x"]}
    with pytest.raises(CheckpointNotFoundError, match="Couldn't find trained model"):
        est.export_saved_model(
            os.path.join(str(tmp_path), "export"), build_parsing_serving_input_receiver_fn(spec)
        )


def test_receiver_missing_features_are_named(titanic_case: Case, tmp_path: object) -> None:
    spec = {"age": numeric_column("age").parse_example_spec["age"]}
    with pytest.raises(FeatureError, match=r"missing \['alone', 'class'"):
        titanic_case.est.export_saved_model(str(tmp_path), build_parsing_serving_input_receiver_fn(spec))
    assert os.listdir(str(tmp_path)) == []


def test_existing_timestamp_directory_waits_for_a_new_one(
    titanic_case: Case, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An existing <timestamp> is never overwritten: export retries with a later timestamp (as TF)."""
    from torchestimator.export import saved_model

    clock = iter([1700000000, 1700000001])
    monkeypatch.setattr(saved_model, "_timestamp", lambda: next(clock))
    slept = []
    monkeypatch.setattr(saved_model, "_sleep", slept.append)
    os.makedirs(os.path.join(str(tmp_path), "1700000000"))
    spec = {k: v for c in titanic_case.columns for k, v in c.parse_example_spec.items()}
    path = titanic_case.est.export_saved_model(str(tmp_path), build_parsing_serving_input_receiver_fn(spec))
    assert os.path.basename(path) == "1700000001" and slept == [1]
    assert os.listdir(os.path.join(str(tmp_path), "1700000000")) == []


KILL_CHILD = r"""
import os, sys, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, {here!r})
from export_cases import iris, input_fn
from torchestimator.columns import numeric_column, make_parse_example_spec
from torchestimator.export import build_parsing_serving_input_receiver_fn
from torchestimator.premade import DNNClassifier
feats, labels = iris()
cols = [numeric_column(k) for k in feats]
est = DNNClassifier([4], cols, model_dir={model_dir!r}, n_classes=3)
print("ready", flush=True)
est.export_saved_model({base!r}, build_parsing_serving_input_receiver_fn(make_parse_example_spec(cols)))
"""


def test_killed_export_leaves_no_timestamp_directory(tmp_path: object) -> None:
    from torchestimator.premade import DNNClassifier

    feats, labels = iris()
    model_dir = os.path.join(str(tmp_path), "model")
    DNNClassifier([4], [numeric_column(k) for k in feats], model_dir=model_dir, n_classes=3).train(
        input_fn(feats, labels), steps=2
    )
    base = os.path.join(str(tmp_path), "export")
    code = KILL_CHILD.format(here=os.path.dirname(__file__), model_dir=model_dir, base=base)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:  # kill as soon as the temp dir exists (mid-export)
            if os.path.isdir(base) and any(n.startswith("temp-") for n in os.listdir(base)):
                break
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, "the export finished before it could be killed"
    names = os.listdir(base)
    assert any(n.startswith("temp-") for n in names)
    assert not [n for n in names if n.isdigit()], names
    # the next export removes the killed writer's folder (its pid is gone) and leaves only its own result
    cols = [numeric_column(k) for k in feats]
    est = DNNClassifier([4], cols, model_dir=model_dir, n_classes=3)
    spec = {k: v for c in cols for k, v in c.parse_example_spec.items()}
    path = est.export_saved_model(base, build_parsing_serving_input_receiver_fn(spec))
    assert os.listdir(base) == [os.path.basename(path)]
