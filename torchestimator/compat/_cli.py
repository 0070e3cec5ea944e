"""``torchestimator import-tf-checkpoint``: list a TF checkpoint, or import it into an Estimator's model_dir."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from torchestimator.compat._import import import_tf_checkpoint
from torchestimator.compat._tf_bundle import TFBundle
from torchestimator.errors import TorchEstimatorError

__all__ = ["run_import"]


def _factory(spec: str) -> object:
    """The callable named ``module:attr`` (code the user names on the command line, like ``python -m``)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(
            f"--estimator must be module:callable (e.g. my_job.model:make_estimator); received {spec!r}."
        )
    sys.path.insert(0, "")  # the current directory, as `python -m` does
    target: object = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    return target


def _name_map(path: str) -> dict[str, str]:
    """``--name-map``: a JSON object of strings (data only; nothing in it is executed)."""
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f"--name-map {path!r}: cannot read a JSON object from it ({err}).") from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(
            f"--name-map {path!r} must hold a JSON object of strings {{TF name or regex: our key}}."
        )
    return value


def run_import(args: argparse.Namespace) -> int:
    """Run the verb; returns the exit status (2 on a usage or checkpoint error)."""
    try:
        if args.list:
            bundle = TFBundle(args.tf_checkpoint)
            print(f"# {bundle.prefix}")
            for name, shape in bundle.shapes().items():
                print(f"{name}\t{list(shape)}")
            return 0
        if not args.estimator or not args.model_dir:
            print("error: give --list, or --estimator module:callable and --model-dir DIR", file=sys.stderr)
            return 2
        make = _factory(args.estimator)
        if not callable(make):
            raise ValueError(f"--estimator {args.estimator!r} is not callable.")
        estimator = make(model_dir=args.model_dir)
        report = import_tf_checkpoint(
            args.tf_checkpoint,
            estimator,
            name_map=_name_map(args.name_map) if args.name_map else None,
            include_optimizer=not args.no_optimizer,
            strict=not args.non_strict,
        )
    except (TorchEstimatorError, ValueError, ImportError, AttributeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report)
    return 0
