"""KMeans against TF 2.15 (tests/fixtures/premade/tf215_sdca_kmeans.json, from
scripts/fixtures/gen_sdca_kmeans_fixtures.py): from the same initial centres, the centres after every
step, the loss of every step, ``score``, ``evaluate``, predictions and ``transform``, for full-batch
and mini-batch training (1 and 3 steps per iteration), squared-Euclidean and cosine.

TF's mini-batch op is racy (see the generator); the fixture holds the outcome most TF runs agree on,
and for ``mini_batch_steps_per_iteration=3`` only the steps every TF run agrees on are compared.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import torchestimator as te
from torchestimator import feature_column as fc
from torchestimator.errors import InvalidArgumentError
from torchestimator.hooks.base import Hook, RunContext

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "premade" / "tf215_sdca_kmeans.json"
KMEANS = json.loads(FIXTURE.read_text())["kmeans"]
POINTS = np.asarray(KMEANS["points"], np.float32)
INITIAL = np.asarray(KMEANS["initial_clusters"], np.float32)
QUIET = dict(save_summary_steps=None, log_step_count_steps=None)


class _Record(Hook):
    def __init__(self) -> None:
        self.centers: list[np.ndarray] = []
        self.updated: list[np.ndarray] = []
        self.losses: list[float] = []

    def after_step(self, ctx: RunContext) -> None:
        model = ctx.estimator.model
        self.centers.append(model.clusters.detach().numpy().copy())
        if hasattr(model, "clusters_updated"):
            self.updated.append(model.clusters_updated.detach().numpy().copy())
        assert ctx.loss is not None
        self.losses.append(float(ctx.loss))


def _batches(size: int) -> Iterator[np.ndarray]:
    """TF's ``Dataset.from_tensor_slices(points).batch(size).repeat()``."""
    while True:
        for start in range(0, len(POINTS), size):
            yield POINTS[start : start + size]


def _kmeans(case: dict[str, Any], **kwargs: Any) -> te.KMeans:
    return te.KMeans(
        num_clusters=len(INITIAL),
        initial_clusters=INITIAL,
        distance_metric=case["metric"],
        use_mini_batch=case["mini_batch"],
        mini_batch_steps_per_iteration=case["steps_per_iteration"],
        model_dir=tempfile.mkdtemp(),
        config=te.RunConfig(**QUIET),
        **kwargs,
    )


@pytest.mark.parametrize("name", sorted(KMEANS["cases"]))
def test_matches_tf_step_by_step(name: str) -> None:
    case = KMEANS["cases"][name]
    km = _kmeans(case)
    size = KMEANS["batch_size"] if case["mini_batch"] else len(POINTS)
    record = _Record()
    km.train(lambda: _batches(size), steps=case["steps"], hooks=[record])
    assert len(record.centers) == case["steps"]
    np.testing.assert_allclose(np.stack(record.centers), case["centers_per_step"], atol=1e-5)
    agreed = case["steps_per_iteration"] if case["steps_per_iteration"] > 1 else case["steps"]
    if case["updated_per_step"]:
        np.testing.assert_allclose(
            np.stack(record.updated[:agreed]), case["updated_per_step"][:agreed], atol=1e-5
        )
    np.testing.assert_allclose(record.losses[:agreed], case["loss_per_step"][:agreed], rtol=1e-6, atol=1e-5)

    np.testing.assert_allclose(km.cluster_centers(), case["cluster_centers"], atol=1e-5)
    assert km.score(lambda: POINTS) == pytest.approx(case["score"], abs=1e-5)
    metrics = km.evaluate(lambda: POINTS)
    assert set(metrics) == set(case["evaluate"])
    for key in ("score", "loss"):
        assert metrics[key] == pytest.approx(case["evaluate"][key], abs=1e-5)
    assert metrics["global_step"] == case["steps"]
    assert list(km.predict_cluster_index(lambda: POINTS)) == case["cluster_index"]
    predictions = list(km.predict(lambda: POINTS))
    assert set(predictions[0]) == {"cluster_index", "all_distances"}
    np.testing.assert_allclose([p["all_distances"] for p in predictions], case["all_distances"], atol=1e-5)
    np.testing.assert_allclose(list(km.transform(lambda: POINTS)), case["transform"], atol=1e-5)


def test_random_init_reads_whole_small_batches_without_counting_steps() -> None:
    km = te.KMeans(4, use_mini_batch=False, model_dir=tempfile.mkdtemp(), config=te.RunConfig(**QUIET))
    batches = [POINTS[0:2], POINTS[2:4], POINTS[4:10]]
    km.train(lambda: iter(batches))
    # TF: a batch no larger than the centres still missing is taken whole; init batches are not steps
    assert km.global_step == 1
    first = POINTS[:4]
    index = np.argmin(((POINTS[4:10, None, :] - first[None]) ** 2).sum(-1), axis=1)
    expected = np.stack([POINTS[4:10][index == k].sum(0) / ((index == k).sum() + 1e-6) for k in range(4)])
    np.testing.assert_allclose(km.cluster_centers(), expected, atol=1e-5)


def test_kmeans_plus_plus_picks_distinct_points_of_the_first_batch() -> None:
    km = te.KMeans(
        5,
        initial_clusters=te.KMeans.KMEANS_PLUS_PLUS_INIT,
        seed=3,
        model_dir=tempfile.mkdtemp(),
        config=te.RunConfig(**QUIET),
    )
    km.model.initialize(POINTS)
    centers = km.model.clusters.numpy()
    rows = {tuple(p) for p in POINTS.tolist()}
    assert len({tuple(c) for c in centers.tolist()}) == 5 and all(tuple(c) in rows for c in centers.tolist())
    small = te.KMeans(5, initial_clusters=te.KMeans.KMEANS_PLUS_PLUS_INIT, config=te.RunConfig(**QUIET))
    with pytest.raises(InvalidArgumentError, match="at least as many points"):
        small.train(lambda: POINTS[:3], steps=1)


def test_callable_init_and_feature_columns() -> None:
    features = {"a": POINTS[:, :2], "b": POINTS[:, 2]}
    km = te.KMeans(
        3,
        initial_clusters=lambda inputs, k: inputs[0][:k],
        feature_columns=[fc.numeric_column("a", shape=(2,)), fc.numeric_column("b")],
        use_mini_batch=False,
        model_dir=tempfile.mkdtemp(),
        config=te.RunConfig(**QUIET),
    )
    km.train(lambda: features, steps=1)  # the init reads one batch, the step the next
    by_array = te.KMeans(3, initial_clusters=POINTS[:3], use_mini_batch=False, config=te.RunConfig(**QUIET))
    by_array.train(lambda: POINTS, steps=1)
    np.testing.assert_allclose(km.cluster_centers(), by_array.cluster_centers(), atol=1e-6)
    assert km.global_step == 1


def test_centres_are_checkpointed_and_restored_by_a_fresh_estimator() -> None:
    model_dir = tempfile.mkdtemp()
    km = te.KMeans(4, seed=1, model_dir=model_dir, config=te.RunConfig(**QUIET))
    km.train(lambda: _batches(10), steps=5)
    fresh = te.KMeans(
        4, seed=2, model_dir=model_dir, config=te.RunConfig(**QUIET)
    )  # centres unknown until read
    assert list(fresh.predict_cluster_index(lambda: POINTS)) == list(km.predict_cluster_index(lambda: POINTS))
    np.testing.assert_array_equal(fresh.cluster_centers(), km.model.clusters.numpy())
    fresh.train(lambda: _batches(10), steps=1)  # resumes: no new initialisation
    assert fresh.global_step == 6
    assert "cluster_counts" in fresh.get_variable_names()


def test_relative_tolerance_stops_training() -> None:
    km = te.KMeans(
        3,
        initial_clusters=POINTS[:3],
        use_mini_batch=False,
        relative_tolerance=1e-4,
        config=te.RunConfig(**QUIET),
    )
    km.train(lambda: POINTS, steps=50)
    assert km.global_step < 50  # Lloyd iterations converge: the loss stops changing


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"initial_clusters": "kmc2"}, "unsupported initialization"),
        ({"distance_metric": "manhattan"}, "unsupported distance_metric"),
        ({"num_clusters": 0}, "num_clusters"),
        ({"mini_batch_steps_per_iteration": 0}, "mini_batch_steps_per_iteration"),
        ({"initial_clusters": np.zeros(3)}, r"\(num_clusters, dimension\)"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    args = {"num_clusters": 2, **kwargs}
    with pytest.raises(InvalidArgumentError, match=message):
        te.KMeans(**args)


def test_predict_before_training_is_a_clear_error() -> None:
    module = te.premade.KMeansModelFn(3)
    with pytest.raises(InvalidArgumentError, match="not initialised"):
        module(torch.as_tensor(POINTS))


@pytest.mark.slow  # torch.export + ONNX: ~14 s on the shared CI machine
def test_export_serves_tf_signatures_equal_to_predict() -> None:
    pytest.importorskip("onnxruntime")
    from torchestimator import serving
    from torchestimator.export.receivers import build_raw_serving_input_receiver_fn

    km = te.KMeans(3, initial_clusters=POINTS[:3], use_mini_batch=False, config=te.RunConfig(**QUIET))
    km.train(lambda: {"p": POINTS}, steps=2)
    path = km.export_saved_model(tempfile.mkdtemp(), build_raw_serving_input_receiver_fn({"p": POINTS}))
    predictor = serving.load(path)
    assert set(predictor.signatures) == {"all_distances", "cluster_index", "serving_default"}
    expected = list(km.predict(lambda: {"p": POINTS}))
    index = predictor({"p": POINTS}, signature="serving_default")["output"]
    assert index.tolist() == [int(p["cluster_index"]) for p in expected]
    distances = predictor({"p": POINTS}, signature="all_distances")["output"]
    np.testing.assert_allclose(distances, [p["all_distances"] for p in expected], atol=1e-5)


def test_evaluate_averages_the_per_batch_sums_and_score_reads_one_batch() -> None:
    km = te.KMeans(3, initial_clusters=POINTS[:3], use_mini_batch=False, config=te.RunConfig(**QUIET))
    km.train(lambda: POINTS, steps=2)
    centers = km.cluster_centers().astype(np.float64)
    nearest = ((POINTS[:, None, :].astype(np.float64) - centers[None]) ** 2).sum(-1).min(axis=1)  # (30,)
    sums = [nearest[start : start + 10].sum() for start in (0, 10, 20)]
    batches = [POINTS[start : start + 10] for start in (0, 10, 20)]
    metrics = km.evaluate(lambda: iter(batches))
    assert metrics["score"] == pytest.approx(np.mean(sums), rel=1e-5)  # tf.metrics.mean over batches
    assert metrics["loss"] == pytest.approx(np.mean(sums), rel=1e-5)
    assert km.score(lambda: iter(batches)) == pytest.approx(sums[0], rel=1e-5)  # the first batch only
