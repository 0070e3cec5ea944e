"""The ``torchestimator`` console script.

Commands:
    show <export_dir>   print the export's signatures (like ``saved_model_cli show --all``)
    import-tf-checkpoint <tf_checkpoint> [--list | --estimator module:factory [--model-dir DIR]]
                        list a TF checkpoint's variables, or import it (weights and optimizer slots)
                        into the Estimator ``factory(model_dir=...)`` returns
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
    imp = sub.add_parser(
        "import-tf-checkpoint",
        help="list a TF checkpoint's variables, or import it into a torchestimator model_dir",
    )
    imp.add_argument("tf_checkpoint", help="a TF model_dir, model.ckpt-N prefix, or SavedModel directory")
    imp.add_argument("--list", action="store_true", help="print each TF variable with its shape and stop")
    imp.add_argument(
        "--estimator",
        help="module:callable returning the Estimator to import into, called as callable(model_dir=DIR)",
    )
    imp.add_argument("--model-dir", help="the (new, empty) model_dir to write the imported checkpoint to")
    imp.add_argument(
        "--name-map",
        help="a JSON file {TF name or regex: our state_dict key} for a custom (non pre-made) model",
    )
    imp.add_argument("--no-optimizer", action="store_true", help="import the weights only, not the slots")
    imp.add_argument("--non-strict", action="store_true", help="load what matches, report the rest")
    args = parser.parse_args(argv)
    if args.command == "import-tf-checkpoint":
        from torchestimator.compat._cli import run_import

        return run_import(args)
    from torchestimator.errors import ExportError
    from torchestimator.serving.show import show

    try:
        return show(args.export_dir)
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
