"""The ``torchestimator`` console script.

Commands:
    show <export_dir>   print the export's signatures (like ``saved_model_cli show --all``)
    plot <model_dir>    write PNGs of the training / eval curves and the model's weights
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="torchestimator", description="torchestimator command line")
    sub = parser.add_subparsers(dest="command", required=True)
    show_cmd = sub.add_parser("show", help="print an export's signatures, inputs and outputs")
    show_cmd.add_argument("export_dir", help="an export directory (<export_dir_base>/<timestamp>)")
    show_cmd.add_argument("--all", action="store_true", help="accepted for saved_model_cli compatibility")
    plot_cmd = sub.add_parser("plot", help="write PNGs of a model_dir's curves and weights")
    plot_cmd.add_argument("model_dir", help="the Estimator's model_dir")
    plot_cmd.add_argument("--out", default=None, help="output folder (default: <model_dir>/plots)")
    plot_cmd.add_argument("--top", type=int, default=20, help="weights / columns shown per chart")
    args = parser.parse_args(argv)
    from torchestimator.errors import TorchEstimatorError

    try:
        if args.command == "plot":
            from torchestimator.plot import plot_model_dir

            for path in plot_model_dir(args.model_dir, args.out, args.top):
                print(path)
            return 0
        from torchestimator.serving.show import show

        return show(args.export_dir)
    except TorchEstimatorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
