"""TF SavedModel bridge: export with torchestimator, rebuild in TF 2.15, load with tf.saved_model.load.

Oracles: TF 2.15's documented Estimator serving contract (signature names, method names, input keys, output
keys / dtypes / shapes, written out below) and ``Estimator.predict`` on the same rows (outputs within 1e-5).
One TF subprocess builds each model's SavedModel; one more loads all three and runs every signature.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tf_support import require_tf_python

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))
from export_cases import input_fn, iris, titanic, to_examples

from torchestimator.columns import (
    bucketized_column,
    categorical_column_with_hash_bucket,
    categorical_column_with_identity,
    categorical_column_with_vocabulary_file,
    categorical_column_with_vocabulary_list,
    crossed_column,
    embedding_column,
    indicator_column,
    make_parse_example_spec,
    numeric_column,
)
from torchestimator.errors import ExportError, InvalidArgumentError
from torchestimator.export import build_parsing_serving_input_receiver_fn
from torchestimator.tf_bridge import export_tf_saved_model

pytestmark = pytest.mark.tf
CHECKER = str(Path(__file__).with_name("tf_check.py"))
ROWS = 40
F32 = "float32"


def _titanic_linear(tmp: str) -> tuple[Any, list[Any], dict, np.ndarray]:
    """The seed example: age numeric, class vocabulary list, embark_town hashed into 32 buckets."""
    from torchestimator.premade import LinearClassifier

    feats, labels = titanic()
    columns = [
        numeric_column("age"),
        categorical_column_with_vocabulary_list("class", ["First", "Second", "Third"]),
        categorical_column_with_hash_bucket("embark_town", 32),
    ]
    return LinearClassifier(columns, model_dir=tmp), columns, feats, labels


def _iris_dnn(tmp: str) -> tuple[Any, list[Any], dict, np.ndarray]:
    from torchestimator.premade import DNNClassifier

    feats, labels = iris()
    columns = [numeric_column(k) for k in feats]
    return DNNClassifier([10, 10], columns, model_dir=tmp, n_classes=3), columns, feats, labels


def _wide_deep(tmp: str) -> tuple[Any, list[Any], dict, np.ndarray]:
    """A wide & deep regressor over every supported column kind (vocabulary file, identity, cross, ...),
    with a non-default activation and sparse combiner."""
    from torchestimator.premade import DNNLinearCombinedRegressor

    feats, _ = titanic()
    labels = feats["fare"].astype(np.float32) / 50.0
    vocab = os.path.join(tmp, "deck.txt")
    os.makedirs(tmp, exist_ok=True)
    with open(vocab, "w", encoding="utf-8") as fh:
        fh.write("\n".join(["A", "B", "C", "D", "E", "F", "G"]) + "\n")
    age = numeric_column("age")
    age_buckets = bucketized_column(age, [5, 18, 25, 30, 40, 50, 65])
    sex = categorical_column_with_vocabulary_list("sex", ["female", "male"])
    deck = categorical_column_with_vocabulary_file("deck", vocab, num_oov_buckets=2)
    siblings = categorical_column_with_identity("n_siblings_spouses", 10)
    town = categorical_column_with_hash_bucket("embark_town", 7)
    wide = [
        age_buckets,
        crossed_column([age_buckets, "sex"], 100),
        siblings,
        deck,
        numeric_column("parch", dtype="int64"),
    ]
    deep = [
        age,
        age_buckets,
        indicator_column(sex),
        embedding_column(deck, 4),
        embedding_column(town, 3, combiner="sqrtn"),
        embedding_column(siblings, 2, combiner="sum"),
    ]
    # tanh and the 'mean' combiner are not TF's defaults: the bridge must take them from the export's manifest
    # (the vocabulary file's rewritten path defeats the column-state digest, so 'mean' is only there)
    est = DNNLinearCombinedRegressor(
        model_dir=tmp,
        linear_feature_columns=wide,
        dnn_feature_columns=deep,
        dnn_hidden_units=[8, 4],
        dnn_activation_fn="tanh",
        linear_sparse_combiner="mean",
    )
    return est, wide + deep, feats, labels


MODELS = {"titanic_linear": _titanic_linear, "iris_dnn": _iris_dnn, "wide_deep": _wide_deep}


@pytest.fixture(scope="module")
def bridged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Per model: the export, Estimator.predict on ROWS rows, and what the TF-loaded SavedModel returned."""
    tf_python = require_tf_python()
    root = str(tmp_path_factory.mktemp("tf_bridge"))
    cases: dict[str, dict[str, Any]] = {}
    jobs = []
    for name, make in MODELS.items():
        est, columns, feats, labels = make(os.path.join(root, name))
        est.train(input_fn(feats, labels), steps=15)
        receiver = build_parsing_serving_input_receiver_fn(make_parse_example_spec(columns))
        export_dir = est.export_saved_model(os.path.join(root, name, "export"), receiver)
        sample = {k: v[:ROWS] for k, v in feats.items()}
        reference = next(est.predict(lambda sample=sample: sample, yield_single_examples=False))
        saved_model = export_tf_saved_model(export_dir, tf_python=tf_python)
        out_dir = os.path.join(root, name, "tf_outputs")
        examples = [base64.b64encode(e).decode() for e in to_examples(sample, ROWS)]
        jobs.append({"saved_model": saved_model, "examples": examples, "out_dir": out_dir})
        cases[name] = {
            "export_dir": export_dir,
            "saved_model": saved_model,
            "reference": reference,
            "out": out_dir,
        }
    job_file = os.path.join(root, "jobs.json")
    with open(job_file, "w", encoding="utf-8") as fh:
        json.dump(jobs, fh)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([tf_python, CHECKER, job_file], check=True, env=env, timeout=300)
    for case in cases.values():
        with open(os.path.join(case["out"], "report.json"), encoding="utf-8") as fh:
            case["report"] = json.load(fh)
    return cases


def _classifier_table(n: int, binary: bool) -> dict[str, dict[str, Any]]:
    classify = {
        "method": "tensorflow/serving/classify",
        "inputs": {"inputs": ["string", [-1]]},
        "outputs": {"classes": ["string", [-1, n]], "scores": [F32, [-1, n]]},
    }
    predict = {
        "all_class_ids": ["int32", [-1, n]],
        "all_classes": ["string", [-1, n]],
        "class_ids": ["int64", [-1, 1]],
        "classes": ["string", [-1, 1]],
        "logits": [F32, [-1, 1 if binary else n]],
        "probabilities": [F32, [-1, n]],
    }
    table = {"serving_default": classify, "classification": classify}
    if binary:
        predict["logistic"] = [F32, [-1, 1]]
        table["regression"] = {
            "method": "tensorflow/serving/regress",
            "inputs": {"inputs": ["string", [-1]]},
            "outputs": {"outputs": [F32, [-1, 1]]},
        }
    table["predict"] = {
        "method": "tensorflow/serving/predict",
        "inputs": {"examples": ["string", [-1]]},
        "outputs": predict,
    }
    return table


REGRESS = {
    "method": "tensorflow/serving/regress",
    "inputs": {"inputs": ["string", [-1]]},
    "outputs": {"outputs": [F32, [-1, 1]]},
}
TF_TABLE = {  # TF 2.15 Estimator exports (canned heads), observed with saved_model_cli
    "titanic_linear": _classifier_table(2, binary=True),
    "iris_dnn": _classifier_table(3, binary=False),
    "wide_deep": {
        "serving_default": REGRESS,
        "regression": REGRESS,
        "predict": {
            "method": "tensorflow/serving/predict",
            "inputs": {"examples": ["string", [-1]]},
            "outputs": {"predictions": [F32, [-1, 1]]},
        },
    },
}
SOURCE = {  # TF signature output -> Estimator.predict key
    ("classification", "classes"): "all_classes",
    ("classification", "scores"): "probabilities",
    ("serving_default", "classes"): "all_classes",
    ("serving_default", "scores"): "probabilities",
}


@pytest.mark.parametrize("name", list(MODELS))
def test_signatures_match_tf_serving_contract(bridged: dict[str, dict[str, Any]], name: str) -> None:
    report = bridged[name]["report"]
    expected = TF_TABLE[name]
    assert set(report["signatures"]) == set(expected)
    assert {k: report["methods"][k] for k in expected} == {k: v["method"] for k, v in expected.items()}
    for sig, spec in expected.items():
        assert report["signatures"][sig]["inputs"] == spec["inputs"], sig
        assert report["signatures"][sig]["outputs"] == spec["outputs"], sig


@pytest.mark.parametrize("name", list(MODELS))
def test_outputs_match_estimator_predict(bridged: dict[str, dict[str, Any]], name: str) -> None:
    case = bridged[name]
    reference = case["reference"]
    regression_source = "predictions" if name == "wide_deep" else "logistic"
    checked = 0
    for sig, entry in case["report"]["signatures"].items():
        for key in entry["outputs"]:
            source = SOURCE.get((sig, key), regression_source if key == "outputs" else key)
            ref = np.asarray(reference[source])
            if key in entry["strings"]:
                assert [[s.encode() for s in row] for row in entry["strings"][key]] == ref.tolist(), (
                    sig,
                    key,
                )
            else:
                got = np.load(os.path.join(case["out"], f"{sig}.{key}.npy"))
                assert got.shape == ref.shape, (sig, key)
                np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0, err_msg=f"{sig}/{key}")
            checked += 1
    assert checked >= 3


def test_unsupported_column_is_named(bridged: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    """A normalizer_fn (torch code) cannot run in TF: the error names the column and the setting."""
    source = bridged["titanic_linear"]["export_dir"]
    copy = str(tmp_path / "export")
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("tf_saved_model"))
    path = os.path.join(copy, "assets", "columns.json")
    with open(path, encoding="utf-8") as fh:
        layers = json.load(fh)
    for layer in layers:
        for col in layer["columns"]:
            if col["type"] == "NumericColumn":
                col["config"]["normalizer_fn"] = {"callable": "mymodule:scale"}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(layers, fh)
    with pytest.raises(ExportError, match=r"numeric_column 'age' has normalizer_fn"):
        export_tf_saved_model(copy, tf_python=require_tf_python())


def test_existing_output_is_refused(bridged: dict[str, dict[str, Any]]) -> None:
    case = bridged["iris_dnn"]
    with pytest.raises(ExportError, match="already exists"):
        export_tf_saved_model(case["export_dir"], case["saved_model"], tf_python=require_tf_python())


def test_missing_tf_python_gives_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TORCHESTIMATOR_TF_PYTHON", raising=False)
    with pytest.raises(InvalidArgumentError, match=r"tensorflow-cpu==2\.15\.1"):
        export_tf_saved_model(tmp_path)
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        export_tf_saved_model(tmp_path, tf_python=str(tmp_path / "no-python"))
