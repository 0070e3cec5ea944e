"""Training, exporting and launching print none of the third-party noise users reported (in a fresh process)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import warnings

import torch

from torchestimator.quiet import consume_sparse_invariant_warning, quiet_loggers

_TRAIN_AND_EXPORT = textwrap.dedent(
    """
    import os, sys, tempfile, warnings
    import numpy as np
    import torchestimator as te
    from torchestimator import feature_column as fc
    from torchestimator.export import build_parsing_serving_input_receiver_fn
    warnings.simplefilter("always")  # the user's own settings: every warning that reaches them is printed
    rng = np.random.default_rng(0)
    def input_fn():
        for _ in range(3):
            yield ({"x": rng.normal(size=16).astype(np.float32),
                    "h": rng.integers(0, 100, 16).astype(np.int64)}, rng.integers(0, 2, 16))
    cols = [fc.numeric_column("x"),
            fc.embedding_column(fc.categorical_column_with_hash_bucket("h", 50, dtype="int64"), 4)]
    d = tempfile.mkdtemp()
    est = te.DNNClassifier([4], cols, model_dir=d)
    est.train(input_fn)
    if sys.argv[1] == "export":
        est.export_saved_model(os.path.join(d, "e"),
                               build_parsing_serving_input_receiver_fn(fc.make_parse_example_spec(cols)))
    print("DONE")
    """
)

NOISE = ("torchvision", "Attribute type is ambiguous", "Sparse invariant checks", "RuntimeWarning")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)


def test_training_with_sparse_embeddings_and_export_print_no_noise():
    out = _run("-c", _TRAIN_AND_EXPORT, "export")
    assert "DONE" in out.stdout, out.stderr
    for line in NOISE:
        assert line not in out.stderr, out.stderr


def test_launch_module_prints_no_runpy_warning(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("print('ran')\n")
    out = _run("-W", "always", "-m", "torchestimator.parallel.launch", "--nproc", "1", str(script))
    assert "ran" in out.stdout, out.stderr
    assert "RuntimeWarning" not in out.stderr, out.stderr


def test_quiet_loggers_restores_levels():
    log = logging.getLogger("torchestimator.test.quiet")
    log.setLevel(logging.INFO)
    with quiet_loggers("torchestimator.test.quiet"):
        assert log.level == logging.ERROR
    assert log.level == logging.INFO


def test_user_filters_untouched_after_consuming():
    before = list(warnings.filters)
    consume_sparse_invariant_warning()
    assert warnings.filters == before
    # the user's own sparse tensors still work and checks are still torch's default (off)
    t = torch.sparse_coo_tensor(torch.tensor([[0]]), torch.tensor([1.0]), (2,))
    assert t.to_dense().tolist() == [1.0, 0.0]
