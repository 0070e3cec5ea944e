"""Progress bars for train / evaluate / predict, TF's eval log line and a readable Estimator repr."""

from __future__ import annotations

import logging
import sys
import types

import numpy as np

import torchestimator as te
from torchestimator import progress

fc = te.feature_column


def _batch():
    return {"x": np.array([[1.0], [2.0]], np.float32)}, np.array([1, 0])


def _estimator(tmp_path, **config):
    return te.LinearClassifier(
        [fc.numeric_column("x")], model_dir=str(tmp_path), config=te.RunConfig(**config)
    )


def test_progress_choice(monkeypatch):
    assert progress.progress_wanted(True) and not progress.progress_wanted(False)
    monkeypatch.setattr(sys, "stderr", types.SimpleNamespace(isatty=lambda: False, write=print))
    assert not progress.progress_wanted(None)
    monkeypatch.setattr(sys, "stderr", types.SimpleNamespace(isatty=lambda: True, write=print))
    assert progress.progress_wanted(None)


def test_notebook_kernel_detected(monkeypatch):
    assert not progress.in_notebook()
    kernel = types.SimpleNamespace(config={"IPKernelApp": {}})
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: kernel))
    assert progress.in_notebook()
    terminal_ipython = types.SimpleNamespace(config={"TerminalIPythonApp": {}})
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: terminal_ipython))
    assert not progress.in_notebook()


def test_bars_for_train_evaluate_predict(tmp_path, capsys):
    est = _estimator(tmp_path, progress_bar=True)
    est.train(_batch, steps=12)
    est.evaluate(lambda: iter([_batch()] * 3))
    assert len(list(est.predict(lambda: iter([_batch()[0]] * 3)))) == 6
    err = capsys.readouterr().err
    assert "train: 100%" in err and "12/12" in err
    assert "eval: 3batch" in err
    assert "infer: 3batch" in err


def test_no_bars_when_disabled(tmp_path, capsys):
    est = _estimator(tmp_path, progress_bar=False)
    est.train(_batch, steps=3)
    est.evaluate(lambda: iter([_batch()]))
    assert "%|" not in capsys.readouterr().err


def test_eval_logs_tf_line(tmp_path, caplog):
    est = _estimator(tmp_path, progress_bar=False)
    est.train(_batch, steps=5)
    with caplog.at_level(logging.INFO, logger="torchestimator"):
        results = est.evaluate(lambda: iter([_batch()] * 2))
    lines = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("Saving dict for global step")
    ]
    expected = ", ".join(f"{k} = {results[k]}" for k in sorted(results))  # TF's _dict_to_str: sorted keys
    assert lines == [f"Saving dict for global step 5: {expected}"]


def test_repr_names_model_dir_and_step(tmp_path):
    est = _estimator(tmp_path)
    est.train(_batch, steps=2)
    text = repr(est)
    assert text.startswith("LinearClassifier(model=LinearModelFn with 2 parameters")
    assert repr(str(tmp_path)) in text and "global_step=2" in text and "SingleDeviceStrategy" in text
