"""The ``torchestimator`` console script.

Commands:
    show <export_dir>   print the export's signatures (like ``saved_model_cli show --all``)
    plot <model_dir>    write PNGs of the training / eval curves and the model's weights
    serve [flags]       serve exports over TF Serving's REST and gRPC APIs (``tensorflow_model_server``'s flags)
    import-tf-checkpoint <tf_checkpoint> [--list | --estimator module:factory [--model-dir DIR]]
                        list a TF checkpoint's variables, or import it (weights and optimizer slots)
                        into the Estimator ``factory(model_dir=...)`` returns

Each command's arguments are declared by its own ``_add_<command>`` below; the command runs lazily-imported
code, so ``torchestimator --help`` imports nothing heavy. Library errors print ``error: ...`` and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _add_show(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("show", help="print an export's signatures, inputs and outputs")
    cmd.add_argument("export_dir", help="an export directory (<export_dir_base>/<timestamp>)")
    cmd.add_argument("--all", action="store_true", help="accepted for saved_model_cli compatibility")


def _add_plot(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("plot", help="write PNGs of a model_dir's curves and weights")
    cmd.add_argument("model_dir", help="the Estimator's model_dir")
    cmd.add_argument("--out", default=None, help="output folder (default: <model_dir>/plots)")
    cmd.add_argument("--top", type=int, default=20, help="weights / columns shown per chart")


def _add_import(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "import-tf-checkpoint",
        help="list a TF checkpoint's variables, or import it into a torchestimator model_dir",
    )
    cmd.add_argument("tf_checkpoint", help="a TF model_dir, model.ckpt-N prefix, or SavedModel directory")
    cmd.add_argument("--list", action="store_true", help="print each TF variable with its shape and stop")
    cmd.add_argument(
        "--estimator",
        help="module:callable returning the Estimator to import into, called as callable(model_dir=DIR)",
    )
    cmd.add_argument("--model-dir", help="the (new, empty) model_dir to write the imported checkpoint to")
    cmd.add_argument(
        "--name-map",
        help="a JSON file {TF name or regex: our state_dict key} for a custom (non pre-made) model",
    )
    cmd.add_argument("--no-optimizer", action="store_true", help="import the weights only, not the slots")
    cmd.add_argument("--non-strict", action="store_true", help="load what matches, report the rest")


def _add_serve(sub: argparse._SubParsersAction) -> None:
    from torchestimator.server._cli import add_arguments

    add_arguments(sub.add_parser("serve", help="serve exports over TF Serving's REST and gRPC APIs"))


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        from torchestimator.server._cli import run

        return run(args)
    if args.command == "plot":
        from torchestimator.plot import plot_model_dir

        for path in plot_model_dir(args.model_dir, args.out, args.top):
            print(path)
        return 0
    if args.command == "import-tf-checkpoint":
        from torchestimator.compat._cli import run_import

        return run_import(args)
    from torchestimator.serving.show import show

    return show(args.export_dir)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="torchestimator", description="torchestimator command line")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_show, _add_plot, _add_serve, _add_import):
        add(sub)
    args = parser.parse_args(argv)
    from torchestimator.errors import TorchEstimatorError

    try:
        return _run(args)
    except TorchEstimatorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
