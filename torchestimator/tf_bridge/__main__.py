"""``python -m torchestimator.tf_bridge <export_dir> [--output DIR] [--tf-python PY]`` (from the torch venv).

Runs ``build.py`` with the TensorFlow venv's python (``--tf-python`` or ``$TORCHESTIMATOR_TF_PYTHON``).
Inside a TF venv without torch, run ``python path/to/torchestimator/tf_bridge/build.py`` directly instead.
"""

from __future__ import annotations

import argparse
import sys

from torchestimator.errors import TorchEstimatorError
from torchestimator.tf_bridge import export_tf_saved_model


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, build the SavedModel, print its path; errors go to stderr with exit status 2."""
    parser = argparse.ArgumentParser(prog="python -m torchestimator.tf_bridge", description=__doc__)
    parser.add_argument("export_dir")
    parser.add_argument("--output", default=None, help="default: <export_dir>/tf_saved_model")
    parser.add_argument("--tf-python", default=None, help="python of a TensorFlow 2.15 venv")
    parser.add_argument("--dnn-activation", default="relu")
    parser.add_argument("--sparse-combiner", default=None, choices=("sum", "mean", "sqrtn"))
    args = parser.parse_args(argv)
    try:
        path = export_tf_saved_model(
            args.export_dir, args.output, args.tf_python, args.dnn_activation, args.sparse_combiner
        )
    except TorchEstimatorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
