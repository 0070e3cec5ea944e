"""serving.load: every signature, from feature dicts and serialized tf.Examples, equals Estimator.predict."""

from __future__ import annotations

import numpy as np
import pytest
from export_cases import Case

from torchestimator import serving
from torchestimator.errors import FeatureError
from torchestimator.inputs import encode_example


def _check(out: dict, ref: dict, keys: dict) -> None:
    for okey, pkey in keys.items():
        if ref[pkey].dtype == object:
            assert out[okey].tolist() == ref[pkey].tolist(), okey
        else:
            assert out[okey].dtype == ref[pkey].dtype, okey
            np.testing.assert_allclose(out[okey], ref[pkey], atol=1e-5, rtol=0, err_msg=okey)


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_every_signature_matches_predict(case: Case, backend: str) -> None:
    predictor = serving.load(case.export_dir, backend=backend)
    ref = dict(case.reference)
    n_classes = ref["probabilities"].shape[1]
    ref["all_classes"] = np.array(
        [[str(i).encode() for i in range(n_classes)]] * len(ref["logits"]), dtype=object
    )
    for name, sig in predictor.signatures.items():
        keys = {k: v["source"] for k, v in sig.outputs.items()}
        from_examples = sig(**{next(iter(sig.inputs)): case.examples})
        from_features = predictor(case.sample, signature=name)
        _check(from_examples, ref, keys)
        _check(from_features, ref, keys)
    scores = predictor.signatures["classification"](inputs=case.examples)["scores"]
    np.testing.assert_allclose(scores, case.reference["probabilities"], atol=1e-5)
    if "regression" in predictor.signatures:
        outputs = predictor.signatures["regression"](inputs=case.examples)["outputs"]
        np.testing.assert_allclose(outputs, case.reference["logistic"], atol=1e-5)


def test_batch_of_one_and_odd_sizes(titanic_case: Case) -> None:
    predictor = serving.load(titanic_case.export_dir)
    for n in (1, 7):
        out = predictor.signatures["predict"](examples=titanic_case.examples[:n])
        np.testing.assert_allclose(out["logits"], titanic_case.reference["logits"][:n], atol=1e-5)


def test_missing_required_feature_is_named(titanic_case: Case) -> None:
    predictor = serving.load(titanic_case.export_dir)
    record = {
        k: [v[0].item() if hasattr(v[0], "item") else v[0]]
        for k, v in titanic_case.sample.items()
        if k != "fare"
    }
    with pytest.raises(FeatureError, match="fare"):
        predictor.signatures["predict"](examples=[encode_example(record)])


def test_wrong_feature_type_is_named(titanic_case: Case) -> None:
    predictor = serving.load(titanic_case.export_dir)
    record = {k: [v[0].item() if hasattr(v[0], "item") else v[0]] for k, v in titanic_case.sample.items()}
    record["age"] = [b"old"]
    with pytest.raises(FeatureError, match="age"):
        predictor.signatures["predict"](examples=[encode_example(record)])
    bad = dict(titanic_case.sample, fare=np.array(["x"] * len(titanic_case.sample["fare"]), dtype=object))
    with pytest.raises(FeatureError, match="fare"):
        predictor(bad)


def test_onnx_session_is_tuned_and_class_names_come_from_ids(titanic_case: Case) -> None:
    predictor = serving.load(titanic_case.export_dir, backend="onnxruntime")
    options = predictor._session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    asked: list[list[str]] = []
    session_run = predictor._session.run
    predictor._session = type(
        "Recording", (), {"run": lambda self, names, feed: asked.append(names) or session_run(names, feed)}
    )()
    out = predictor.signatures["predict"](examples=titanic_case.examples[:5])
    assert not {"classes", "all_classes"} & set(asked[0])  # no string tensors out of the graph
    want = [str(int(i)).encode() for i in titanic_case.reference["class_ids"][:5].ravel()]
    assert out["classes"].ravel().tolist() == want


def test_host_step_decodes_each_distinct_string_once_as_utf8() -> None:
    from torchestimator.export.host_step import _as_text

    values = np.array([b"caf\xc3\xa9", b"a", b"caf\xc3\xa9", "x"], dtype=object)
    out = _as_text(values)
    assert out.dtype == object and out.tolist() == ["café", "a", "café", "x"]
    assert out[0] is out[2]  # one decode per distinct value
