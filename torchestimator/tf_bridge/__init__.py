"""TF SavedModel bridge: a torchestimator export -> a real TensorFlow SavedModel with TF-Serving signatures.

The builder, ``build.py`` in this folder (with its siblings ``column_contract.py`` and ``tf_columns.py``), imports
only tensorflow, numpy, safetensors and the standard library (never torch or torchestimator), so it runs in a
TensorFlow 2.15 venv::

    /path/to/tf-venv/bin/python torchestimator/tf_bridge/build.py <export_dir> [--output DIR]

From the torch side, :func:`export_tf_saved_model` (or ``python -m torchestimator.tf_bridge <export_dir>``)
runs it in a subprocess with the TF venv's python. See ``build.py``'s docstring for what is built and why
it is a direct TF rebuild rather than an ONNX -> TF conversion.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from torchestimator.errors import ExportError, InvalidArgumentError

__all__ = ["BUILDER", "TF_PYTHON_ENV", "export_tf_saved_model"]

BUILDER = str(Path(__file__).resolve().with_name("build.py"))
TF_PYTHON_ENV = "TORCHESTIMATOR_TF_PYTHON"
_INSTALL_HINT = (
    "make a TensorFlow 2.15 venv (scripts/setup_tf_venv.sh, or `python3 -m venv tfvenv && tfvenv/bin/pip install "
    "'tensorflow-cpu==2.15.1' safetensors`) and pass tf_python='tfvenv/bin/python' or set "
    f"{TF_PYTHON_ENV}"
)


def export_tf_saved_model(
    export_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str] | None = None,
    tf_python: str | os.PathLike[str] | None = None,
    dnn_activation: str | None = None,
    sparse_combiner: str | None = None,
    timeout: float = 600.0,
) -> str:
    """Build a TF SavedModel (TF-Serving signatures over serialized tf.Example) from a torchestimator export.

    Args:
        export_dir: a directory written by ``Estimator.export_saved_model`` with a parsing receiver.
        output_dir: where to write the SavedModel; default ``<export_dir>/tf_saved_model``. Must not exist.
        tf_python: the python of a venv with TensorFlow 2.15 and safetensors; default ``$TORCHESTIMATOR_TF_PYTHON``.
        dnn_activation: override the DNN hidden activation the export records (needed only when the
            model used a custom activation callable that equals a named one).
        sparse_combiner: override the LinearModel ``sparse_combiner`` the export records.
        timeout: seconds to wait for the builder.

    Returns:
        The SavedModel directory.

    Raises:
        InvalidArgumentError: no TF python given or found, or ``export_dir`` is not a directory.
        ExportError: TensorFlow is missing there, or the builder rejected the export (its message says why).

    Example:
        >>> export_tf_saved_model("exports/1700000000", tf_python=".tfvenv/bin/python")  # doctest: +SKIP
        'exports/1700000000/tf_saved_model'
    """
    python = os.fspath(tf_python) if tf_python is not None else os.environ.get(TF_PYTHON_ENV, "")
    if not python:
        raise InvalidArgumentError(f"export_tf_saved_model: no TensorFlow python given; {_INSTALL_HINT}.")
    if not os.path.exists(python):
        raise InvalidArgumentError(
            f"export_tf_saved_model: tf_python {python!r} does not exist; {_INSTALL_HINT}."
        )
    source = os.fspath(export_dir)
    if not os.path.isdir(source):
        raise InvalidArgumentError(f"export_tf_saved_model: export_dir {source!r} is not a directory.")
    command = [python, BUILDER, source]
    if dnn_activation is not None:
        command += ["--dnn-activation", dnn_activation]
    if output_dir is not None:
        command += ["--output", os.fspath(output_dir)]
    if sparse_combiner is not None:
        command += ["--sparse-combiner", sparse_combiner]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the TF venv must not see this venv
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ExportError(f"the TF bridge did not finish within {timeout} s for {source!r}.") from None
    if done.returncode == 3:
        raise ExportError(f"TensorFlow is not importable by {python!r}; {_INSTALL_HINT}.")
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        message = next((ln for ln in reversed(lines) if ln.startswith("error: ")), "\n".join(lines[-15:]))
        raise ExportError(f"the TF bridge could not build a SavedModel from {source!r}: {message}")
    return done.stdout.strip().splitlines()[-1]
