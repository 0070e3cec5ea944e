"""The run thread policy (torchestimator/threads.py): cgroup / affinity arithmetic and RunConfig ownership."""

from __future__ import annotations

import threading

import pytest
import torch
from estimator_support import TinyRegressor, make_batches

import torchestimator as te
from torchestimator import threads
from torchestimator.errors import InvalidArgumentError


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    ("text", "limit"), [("max 100000", None), ("150000 100000", 1.5), ("50000 100000", 0.5), ("junk", None)]
)
def test_cgroup_v2_cpu_max(tmp_path, text, limit):
    _write(tmp_path / "cpu.max", text + "\n")
    assert threads.cgroup_cpu_limit(str(tmp_path)) == limit


@pytest.mark.parametrize(("quota", "limit"), [("-1", None), ("200000", 2.0), ("25000", 0.25)])
def test_cgroup_v1_cfs_quota(tmp_path, quota, limit):
    _write(tmp_path / "cpu" / "cpu.cfs_quota_us", quota)
    _write(tmp_path / "cpu" / "cpu.cfs_period_us", "100000")
    assert threads.cgroup_cpu_limit(str(tmp_path)) == limit


def test_no_cgroup_files_means_no_quota(tmp_path):
    assert threads.cgroup_cpu_limit(str(tmp_path)) is None


def test_usable_cpus_is_affinity_capped_by_quota_rounded_up(tmp_path):
    assert threads.usable_cpus(str(tmp_path), affinity={0, 1, 2, 3}) == 4  # no quota
    _write(tmp_path / "cpu.max", "150000 100000")  # 1.5 CPUs -> 2 threads
    assert threads.usable_cpus(str(tmp_path), affinity={0, 1, 2, 3}) == 2
    assert threads.usable_cpus(str(tmp_path), affinity={3}) == 1  # affinity is the tighter bound
    _write(tmp_path / "cpu.max", "20000 100000")  # 0.2 CPU -> still one thread
    assert threads.usable_cpus(str(tmp_path), affinity={0, 1}) == 1


def test_busy_other_cpus_excludes_own_running_threads(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    stat.write_text("cpu  1 2 3\nprocs_running 5\nprocs_blocked 0\n")
    monkeypatch.setattr(threads, "_own_running_threads", lambda: 2)
    assert threads.busy_other_cpus(str(stat), samples=3) == 3
    assert threads.busy_other_cpus(str(tmp_path / "missing")) == 0


@pytest.mark.parametrize(
    ("cap", "usable", "busy", "want"),
    [(8, 4, 0, 4), (2, 4, 0, 2), (4, 4, 1, 3), (2, 2, 2, 1), (2, 2, 7, 1), (1, 16, 0, 1)],
)
def test_auto_threads(cap, usable, busy, want):
    assert threads.auto_threads(cap, usable, busy) == want


@pytest.mark.parametrize("bad", [0, -1, "many", True, 1.5, None])
def test_run_config_rejects_bad_thread_settings(bad):
    with pytest.raises(InvalidArgumentError, match="num_threads must be 'auto' or an int >= 1"):
        te.RunConfig(num_threads=bad)
    with pytest.raises(InvalidArgumentError, match="inter_op_threads"):
        te.RunConfig(inter_op_threads=bad)


class _Recording(TinyRegressor):
    seen: list[tuple[str, int]] = []

    def forward(self, features, labels=None, mode=te.ModeKeys.TRAIN):
        _Recording.seen.append((mode, torch.get_num_threads()))
        return super().forward(features, labels, mode)


@pytest.fixture
def user_threads():
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    _Recording.seen = []
    yield 2
    torch.set_num_threads(saved)


def _estimator(tmp_path, **config):
    cfg = te.RunConfig(progress_bar=False, log_step_count_steps=None, save_summary_steps=0, **config)
    return te.Estimator(_Recording, model_dir=str(tmp_path), config=cfg)


def test_fixed_num_threads_applies_to_train_evaluate_predict_and_is_restored(tmp_path, user_threads):
    est = _estimator(tmp_path, num_threads=1)
    batches = make_batches(3)
    est.train(lambda: batches)
    assert torch.get_num_threads() == user_threads
    est.evaluate(lambda: batches)
    assert torch.get_num_threads() == user_threads
    preds = list(est.predict(lambda: [f for f, _ in batches]))
    assert len(preds) == 12
    assert torch.get_num_threads() == user_threads
    assert {mode for mode, _ in _Recording.seen} == {"train", "eval", "infer"}
    assert {n for _, n in _Recording.seen} == {1}


@pytest.mark.parametrize(("busy", "want"), [(0, 2), (1, 1), (5, 1)])
def test_auto_threads_follow_the_busy_neighbours(tmp_path, user_threads, monkeypatch, busy, want):
    monkeypatch.setattr(threads, "usable_cpus", lambda: 4)
    monkeypatch.setattr(threads, "busy_other_cpus", lambda samples=3: busy + 2)  # 4 usable, 2 capped by torch
    est = _estimator(tmp_path)
    est.train(lambda: make_batches(2))
    assert {n for _, n in _Recording.seen} == {want}
    assert torch.get_num_threads() == user_threads


def test_auto_rechecks_with_hysteresis(monkeypatch, user_threads):
    clock = [0.0]
    busy = [0]
    monkeypatch.setattr(threads, "_monotonic", lambda: clock[0])
    monkeypatch.setattr(threads, "usable_cpus", lambda: 2)
    monkeypatch.setattr(threads, "busy_other_cpus", lambda samples=3: busy[0])
    with threads.ThreadScope() as scope:
        assert torch.get_num_threads() == 2
        busy[0] = 1
        scope.maybe_adapt()  # before the next check time: nothing
        assert torch.get_num_threads() == 2
        clock[0] = 1.5
        scope.maybe_adapt()  # first disagreeing check: pending only
        assert torch.get_num_threads() == 2
        clock[0] = 3.0
        scope.maybe_adapt()  # second agreeing check: applied
        assert torch.get_num_threads() == 1
        busy[0] = 0
        for t in (4.5, 6.0):
            clock[0] = t
            scope.maybe_adapt()
        assert torch.get_num_threads() == 2  # neighbours gone: back up to the cap
    assert torch.get_num_threads() == user_threads


def test_cpu_host_thread_claims_one_core_once_in_auto_scopes(monkeypatch, user_threads):
    monkeypatch.setattr(threads, "usable_cpus", lambda: 2)
    monkeypatch.setattr(threads, "busy_other_cpus", lambda samples=3: 0)
    assert threads.cpu_host_thread() is False  # outside any scope
    with threads.ThreadScope():
        assert torch.get_num_threads() == 2
        assert threads.cpu_host_thread() is True
        assert torch.get_num_threads() == 1  # one core for the host thread, one for torch
        assert threads.cpu_host_thread() is True
        assert torch.get_num_threads() == 1  # claimed once
    with threads.ThreadScope(num_threads=2):
        assert threads.cpu_host_thread() is False  # a fixed setting is left alone
    monkeypatch.setattr(threads, "usable_cpus", lambda: 1)
    with threads.ThreadScope():
        assert threads.cpu_host_thread() is False  # one CPU: nothing to overlap with
    assert torch.get_num_threads() == user_threads


def test_release_host_thread_gives_the_claimed_core_back(monkeypatch, user_threads):
    monkeypatch.setattr(threads, "usable_cpus", lambda: 2)
    monkeypatch.setattr(threads, "busy_other_cpus", lambda samples=3: 0)
    with threads.ThreadScope():
        threads.release_host_thread()  # nothing claimed: no change
        assert torch.get_num_threads() == 2
        assert threads.cpu_host_thread() is True and torch.get_num_threads() == 1
        threads.release_host_thread()
        assert torch.get_num_threads() == 2  # both cores compute again
        threads.release_host_thread()  # released once
        assert torch.get_num_threads() == 2
    torch.set_num_threads(1)  # a user's single thread: claiming leaves 1, releasing never exceeds it
    with threads.ThreadScope():
        threads.cpu_host_thread()
        threads.release_host_thread()
        assert torch.get_num_threads() == 1
    torch.set_num_threads(user_threads)
    threads.release_host_thread()  # outside any scope: nothing to do


def test_cpu_host_thread_stays_inline_beside_busy_neighbours(monkeypatch, user_threads):
    """Two CPUs but one busy with another process when the call starts: the transform runs inline."""
    monkeypatch.setattr(threads, "usable_cpus", lambda: 2)
    busy = [1]
    monkeypatch.setattr(threads, "busy_other_cpus", lambda samples=3: busy[0])
    with threads.ThreadScope():
        assert threads.cpu_host_thread() is False
        assert torch.get_num_threads() == 1  # the one free CPU computes
    busy[0] = 0
    with threads.ThreadScope():
        assert threads.cpu_host_thread() is True  # neighbours gone by the next call
    monkeypatch.setattr(threads, "usable_cpus", lambda: 4)
    busy[0] = 2
    with threads.ThreadScope():
        assert threads.cpu_host_thread() is True  # 4 CPUs, 2 busy: two still free
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == user_threads


def test_host_transform_in_a_thread_trains_the_same_weights(tmp_path, monkeypatch):
    """auto on 2 CPUs (host transform moved to a background thread after the probe batches) ==
    num_threads=1 (inline throughout): same weights."""
    import numpy as np

    from torchestimator import feature_column as fc
    from torchestimator.inputs import measured_prefetch
    from torchestimator.premade import LinearClassifier

    monkeypatch.setattr(threads, "usable_cpus", lambda: 2)
    monkeypatch.setattr(threads, "busy_other_cpus", lambda samples=3: 0)
    monkeypatch.setattr(measured_prefetch, "PROBE_BATCHES", 3)  # decide after 3 of the 8 batches...
    monkeypatch.setattr(measured_prefetch, "MIN_HOST_SHARE", 0.0)  # ... for the thread, whatever the timing
    started = []
    real_init = measured_prefetch.Prefetcher.__init__

    def spy(self, *args, **kwargs):
        started.append(1)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(measured_prefetch.Prefetcher, "__init__", spy)
    rng = np.random.default_rng(0)
    feats = {"x": rng.standard_normal(64).astype(np.float32), "c": rng.integers(0, 9, 64)}
    labels = (feats["x"] > 0).astype(np.int64)

    def input_fn():
        for i in range(0, 64, 8):
            yield {k: v[i : i + 8] for k, v in feats.items()}, labels[i : i + 8]

    cols = [fc.numeric_column("x"), fc.categorical_column_with_hash_bucket("c", 5, dtype="int64")]
    weights = []
    for name, n in (("auto", "auto"), ("one", 1)):
        cfg = te.RunConfig(progress_bar=False, log_step_count_steps=None, num_threads=n, tf_random_seed=1)
        est = LinearClassifier(cols, model_dir=str(tmp_path / name), config=cfg)
        est.train(input_fn)
        weights.append({k: v.detach().clone() for k, v in est._module.named_parameters()})
    assert started == [1]  # the auto run (only) moved its host stage to the thread
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        torch.testing.assert_close(weights[0][key], weights[1][key], rtol=0, atol=0)


@pytest.mark.parametrize("threaded", [True, False])
def test_train_stopping_early_closes_the_input_and_its_host_thread(tmp_path, monkeypatch, threaded):
    """train(steps=5) over a 100-batch input_fn: the input_fn's generator is closed (its finally runs) and no
    prefetch thread outlives the call, with the host stage in a thread or inline."""
    import numpy as np

    from torchestimator import feature_column as fc
    from torchestimator.inputs import measured_prefetch
    from torchestimator.premade import LinearClassifier

    monkeypatch.setattr(threads, "usable_cpus", lambda: 2)
    monkeypatch.setattr(threads, "busy_other_cpus", lambda samples=3: 0)
    monkeypatch.setattr(measured_prefetch, "PROBE_BATCHES", 2)
    monkeypatch.setattr(measured_prefetch, "MIN_HOST_SHARE", 0.0 if threaded else 1.1)
    closed = []

    def input_fn():
        try:
            for _ in range(100):
                yield {"x": np.ones(8, np.float32), "c": np.arange(8)}, np.ones(8, np.int64)
        finally:
            closed.append(threading.current_thread().name)

    cols = [fc.numeric_column("x"), fc.categorical_column_with_hash_bucket("c", 5, dtype="int64")]
    cfg = te.RunConfig(progress_bar=False, log_step_count_steps=None)
    before = set(threading.enumerate())  # other tests' threads may still be winding down
    LinearClassifier(cols, model_dir=str(tmp_path), config=cfg).train(input_fn, steps=5)
    assert len(closed) == 1
    assert (closed[0] == "torchestimator-prefetch") is threaded
    assert not [t for t in threading.enumerate() if t not in before and t.name == "torchestimator-prefetch"]
