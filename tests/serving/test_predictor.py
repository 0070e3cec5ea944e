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
