"""The ``torchestimator`` console script.

Commands:
    show <export_dir>   print the export's signatures (like ``saved_model_cli show --all``)
    serve [flags]       serve exports over TF Serving's REST and gRPC APIs (``tensorflow_model_server``'s flags)
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
    serve_cmd = sub.add_parser("serve", help="serve exports over TF Serving's REST and gRPC APIs")
    from torchestimator.server._cli import add_arguments

    add_arguments(serve_cmd)
    args = parser.parse_args(argv)
    if args.command == "serve":
        from torchestimator.server._cli import run

        return run(args)
    from torchestimator.errors import ExportError
    from torchestimator.serving.show import show

    try:
        return show(args.export_dir)
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
