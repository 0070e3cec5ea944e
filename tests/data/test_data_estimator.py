"""te.data pipelines through the Estimator: the seed's tf.data input_fns, ported with only tf. -> te.

Oracles: an ordered te.data evaluation must give exactly the metrics of the same data fed by the
independent CSV reader (torchestimator.inputs.make_csv_dataset); an interrupted train() must end with
the weights of an uninterrupted one (the input is fast-forwarded); trained accuracy on Titanic must beat
the majority-class baseline as TF's tutorial does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

import torchestimator as te
from torchestimator import feature_column as fc

DATA = Path(__file__).resolve().parents[2] / "data" / "titanic"
CATEGORICAL = ["sex", "n_siblings_spouses", "parch", "class", "deck", "embark_town", "alone"]
NUMERIC = ["age", "fare"]


def _frames() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    dftrain = pd.read_csv(DATA / "train.csv")
    dfeval = pd.read_csv(DATA / "eval.csv")
    return dftrain, dftrain.pop("survived"), dfeval, dfeval.pop("survived")


def _tutorial_columns(dftrain: pd.DataFrame) -> list[Any]:
    """TF's linear-model tutorial, line for line (tf.feature_column -> te.feature_column)."""
    feature_columns = []
    for feature_name in CATEGORICAL:
        vocabulary = dftrain[feature_name].unique()
        feature_columns.append(fc.categorical_column_with_vocabulary_list(feature_name, vocabulary))
    for feature_name in NUMERIC:
        feature_columns.append(fc.numeric_column(feature_name, dtype="float32"))
    return feature_columns


def make_input_fn(data_df, label_df, num_epochs=10, shuffle=True, batch_size=32):
    def input_function():
        ds = te.data.Dataset.from_tensor_slices((dict(data_df), label_df))
        if shuffle:
            ds = ds.shuffle(1000)
        ds = ds.batch(batch_size).repeat(num_epochs)
        return ds

    return input_function


def _config(tmp: Path) -> te.RunConfig:
    return te.RunConfig(
        tf_random_seed=0, progress_bar=False, save_checkpoints_steps=None, save_checkpoints_secs=None
    )


def test_tutorial_input_fn_trains_and_matches_the_csv_reader_on_eval(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    dftrain, y_train, dfeval, y_eval = _frames()
    est = te.LinearClassifier(
        feature_columns=_tutorial_columns(dftrain), model_dir=str(tmp_path), config=_config(tmp_path)
    )
    est.train(make_input_fn(dftrain, y_train, num_epochs=3))
    ours = est.evaluate(make_input_fn(dfeval, y_eval, num_epochs=1, shuffle=False))
    reader = est.evaluate(
        lambda: te.inputs.make_csv_dataset(
            str(DATA / "eval.csv"), 32, label_name="survived", num_epochs=1, shuffle=False
        )
    )
    assert ours["global_step"] == 3 * int(np.ceil(len(dftrain) / 32))
    for key in ("accuracy", "auc", "average_loss", "loss"):
        assert ours[key] == pytest.approx(reader[key], rel=1e-6), key
    assert ours["accuracy"] > max(y_eval.mean(), 1 - y_eval.mean())  # beats the majority class


def test_seed_examples_port_with_only_tf_to_te(tmp_path: Path) -> None:
    dftrain, y_train, _, _ = _frames()
    columns = [
        fc.numeric_column("age"),
        fc.categorical_column_with_vocabulary_list("class", ["First", "Second", "Third"]),
        fc.categorical_column_with_hash_bucket("embark_town", 32),
    ]
    est = te.LinearClassifier(feature_columns=columns, model_dir=str(tmp_path), config=_config(tmp_path))
    # the seed's two input_fns, with tf. replaced by te.
    est.train(
        lambda: (
            te.data.Dataset.from_tensor_slices((dict(dftrain), y_train)).repeat(200).shuffle(64).batch(16)
        ),
        steps=30,
    )
    metrics = est.evaluate(
        lambda: te.data.experimental.make_csv_dataset(
            str(DATA / "eval.csv"), batch_size=32, label_name="survived", num_epochs=1
        )
    )
    assert metrics["global_step"] == 30
    assert 0.0 <= metrics["accuracy"] <= 1.0 and np.isfinite(metrics["loss"])
    # make_csv_dataset returns a Dataset, so a label transform chains onto it
    flipped = est.evaluate(
        lambda: te.data.experimental.make_csv_dataset(
            str(DATA / "eval.csv"), batch_size=32, label_name="survived", num_epochs=1, shuffle=False
        ).map(lambda features, label: (features, 1 - label))
    )
    plain = est.evaluate(
        lambda: te.data.experimental.make_csv_dataset(
            str(DATA / "eval.csv"), batch_size=32, label_name="survived", num_epochs=1, shuffle=False
        )
    )
    assert flipped["accuracy"] == pytest.approx(1 - plain["accuracy"], abs=1e-6)
    assert flipped["label/mean"] == pytest.approx(1 - plain["label/mean"], abs=1e-6)


class _Interrupt(Exception):
    pass


class _StopAt(te.hooks.Hook):
    def __init__(self, step: int) -> None:
        self.step = step

    def after_step(self, ctx: Any) -> None:
        if ctx.global_step == self.step:
            raise _Interrupt


@pytest.mark.parametrize("seed", [5, None, "make_csv_dataset"])
def test_interrupted_train_fast_forwards_the_dataset(
    tmp_path: Path, seed: int | str | None, caplog: pytest.LogCaptureFixture
) -> None:
    dftrain, y_train, _, _ = _frames()
    columns = [fc.numeric_column("age"), fc.categorical_column_with_hash_bucket("embark_town", 16)]

    def input_fn() -> te.data.Dataset:
        if seed == "make_csv_dataset":  # the seed example's train input_fn (unseeded shuffle)
            return te.data.experimental.make_csv_dataset(
                str(DATA / "train.csv"), batch_size=16, label_name="survived"
            )
        return (
            te.data.Dataset.from_tensor_slices((dict(dftrain), y_train))
            .shuffle(100, seed=seed)
            .repeat()
            .batch(16)
        )

    def estimator(model_dir: Path) -> te.LinearClassifier:
        config = te.RunConfig(tf_random_seed=1, progress_bar=False, save_checkpoints_steps=4)
        return te.LinearClassifier(feature_columns=columns, model_dir=str(model_dir), config=config)

    estimator(tmp_path / "ref").train(input_fn, max_steps=20)
    with pytest.raises(_Interrupt):
        estimator(tmp_path / "cut").train(input_fn, max_steps=20, hooks=[_StopAt(10)])
    with caplog.at_level("INFO", logger="torchestimator"):
        estimator(tmp_path / "cut").train(input_fn, max_steps=20)  # resumes at step 8 and skips 8 batches
    assert "Resumed the input of the interrupted train() call after 8 batches" in caplog.text
    a = te.checkpoint.load_checkpoint(str(tmp_path / "ref"))
    b = te.checkpoint.load_checkpoint(str(tmp_path / "cut"))
    assert a.global_step == b.global_step == 20
    tensors = [k for k, v in a.model.items() if isinstance(v, torch.Tensor)]
    assert tensors
    for key in tensors:
        torch.testing.assert_close(b.model[key], a.model[key], rtol=0, atol=0, msg=key)


def test_shard_by_input_context_partitions_the_data() -> None:
    ds = te.data.Dataset.range(23)
    shards = []
    for i in range(3):
        ctx = te.InputContext(num_input_pipelines=3, input_pipeline_id=i)
        shards.append([int(x) for x in ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)])
    assert sorted(x for s in shards for x in s) == list(range(23))
    assert [len(s) for s in shards] == [8, 8, 7]


def test_train_and_evaluate_with_datasets(tmp_path: Path) -> None:
    dftrain, y_train, dfeval, y_eval = _frames()
    est = te.LinearClassifier(
        feature_columns=[fc.numeric_column("age"), fc.numeric_column("fare")], model_dir=str(tmp_path)
    )
    train_spec = te.TrainSpec(
        lambda: te.data.Dataset.from_tensor_slices((dict(dftrain), y_train)).shuffle(50).repeat().batch(32),
        max_steps=12,
    )
    eval_spec = te.EvalSpec(
        lambda: te.data.Dataset.from_tensor_slices((dict(dfeval), y_eval)).batch(64),
        steps=None,
        throttle_secs=0,
    )
    metrics, _ = te.train_and_evaluate(est, train_spec, eval_spec)
    assert metrics["global_step"] == 12


def test_auto_shard_splits_each_batch_like_tf_rebatching_unless_the_input_fn_shards() -> None:
    ds = te.data.Dataset.range(20).batch(10)
    shares = [
        [b.tolist() for b in te.data.experimental.auto_shard(ds, te.InputContext(3, i))] for i in range(3)
    ]
    # the input_fn's batch size stays the global batch: 10 rows over 3 pipelines -> 4, 3, 3
    assert shares == [[[0, 1, 2, 3], [10, 11, 12, 13]], [[4, 5, 6], [14, 15, 16]], [[7, 8, 9], [17, 18, 19]]]
    unbatched = te.data.experimental.auto_shard(te.data.Dataset.range(7), te.InputContext(2, 1))
    assert [int(x) for x in unbatched] == [1, 3, 5]
    csv = te.data.experimental.make_csv_dataset(
        str(DATA / "eval.csv"), batch_size=32, label_name="survived", num_epochs=1, shuffle=False
    )
    halves = [list(te.data.experimental.auto_shard(csv, te.InputContext(2, i))) for i in range(2)]
    assert [len(y) for _, y in halves[0]][:2] == [16, 16]
    assert sum(len(y) for h in halves for _, y in h) == 264
    own = te.data.Dataset.range(20).shard(2, 1).batch(4)
    assert te.data.experimental.auto_shard(own, te.InputContext(2, 1)) is own
    assert te.data.experimental.auto_shard(ds, te.InputContext(1, 0)) is ds
    assert te.data.experimental.auto_shard([1], te.InputContext(2, 0)) == [1]


def test_unseeded_make_csv_dataset_follows_the_global_numpy_seed() -> None:
    def first_ages() -> list[int]:
        ds = te.data.experimental.make_csv_dataset(
            str(DATA / "train.csv"), batch_size=32, label_name="survived"
        )
        return next(iter(ds))[0]["age"].tolist()

    np.random.seed(11)
    a = first_ages()
    np.random.seed(11)
    assert first_ages() == a
    assert first_ages() != a


def test_predict_from_a_features_only_dataset(tmp_path: Path) -> None:
    dftrain, y_train, dfeval, _ = _frames()
    est = te.LinearClassifier(feature_columns=[fc.numeric_column("age")], model_dir=str(tmp_path))
    est.train(lambda: te.data.Dataset.from_tensor_slices((dict(dftrain), y_train)).batch(64), steps=3)
    predictions = list(est.predict(lambda: te.data.Dataset.from_tensor_slices(dict(dfeval)).batch(50)))
    assert len(predictions) == len(dfeval)
    direct = list(est.predict(lambda: {"age": dfeval["age"].to_numpy()}))
    assert [p["logits"].tolist() for p in predictions] == [p["logits"].tolist() for p in direct]


def test_estimator_input_stage_auto_shards_like_tf_strategies() -> None:
    from torchestimator.input_fn import call_input_fn

    def plain():  # does not take input_context: sharded for it, as TF's strategies do
        return te.data.Dataset.from_tensor_slices(({"x": np.arange(10)}, np.arange(10))).batch(5)

    def shards_itself(input_context):
        ds = te.data.Dataset.from_tensor_slices(({"x": np.arange(10)}, np.arange(10)))
        return ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id).batch(5)

    ctx = te.InputContext(2, 1)
    got = [labels.tolist() for _, labels in call_input_fn(plain, te.ModeKeys.EVAL, input_context=ctx)]
    assert got == [[3, 4], [8, 9]]  # the second slice of each global batch of 5
    own = [labels.tolist() for _, labels in call_input_fn(shards_itself, te.ModeKeys.EVAL, input_context=ctx)]
    assert own == [[1, 3, 5, 7, 9]]  # left as the input_fn made it
    single = [labels.tolist() for _, labels in call_input_fn(plain, te.ModeKeys.EVAL, input_context=None)]
    assert single == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]


def test_train_stopping_early_leaves_no_dataset_thread_running(tmp_path: Path) -> None:
    """train(steps=3) over a prefetched dataset: its reader thread stops with the call (none accumulate)."""
    import threading
    import time

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(4096).astype(np.float32), rng.integers(0, 2, 4096)

    def input_fn():
        return te.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(8).prefetch(2)

    est = te.premade.LinearClassifier(
        [fc.numeric_column("x")], model_dir=str(tmp_path), config=_config(tmp_path)
    )
    before = set(threading.enumerate())
    for _ in range(3):
        est.train(input_fn, steps=3)

    def prefetchers() -> list[threading.Thread]:  # (the summary writer's thread stays, by design)
        return [t for t in threading.enumerate() if t not in before and t.name == "torchestimator-prefetch"]

    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and prefetchers():
        time.sleep(0.01)
    assert not prefetchers()
    assert est.global_step == 9


def test_an_iterator_shared_across_train_calls_is_not_closed(tmp_path: Path) -> None:
    """``lambda: shared_iterator``: the caller's iterator continues in the next train() call (never closed)."""

    def batches():
        for i in range(100):
            yield {"x": np.full(4, i, np.float32)}, np.zeros(4, np.int64)

    shared = batches()
    est = te.premade.LinearClassifier(
        [fc.numeric_column("x")], model_dir=str(tmp_path), config=_config(tmp_path)
    )
    est.train(lambda: shared, steps=3)
    est.train(lambda: shared, steps=3)
    assert est.global_step == 6
    assert next(shared)[0]["x"][0] == 6.0  # six batches read, the iterator still open
