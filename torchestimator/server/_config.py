"""TF Serving's text-proto config files: ``--model_config_file`` and ``--batching_parameters_file``.

``model_config_list { config { name: "m" base_path: "/models/m" model_platform: "tensorflow"
model_version_policy { latest { num_versions: 2 } } version_labels { key: "stable" value: 1 } } }`` and
``max_batch_size { value: 64 } batch_timeout_micros { value: 2000 } num_batch_threads { value: 4 }``, parsed
by protobuf's text format against the messages of :mod:`._protos` (a field TF Serving does not have is an
error naming it).
"""

from __future__ import annotations

import os

from google.protobuf import text_format

from torchestimator.errors import InvalidArgumentError
from torchestimator.server import _protos as pb
from torchestimator.server._batcher import BatchingOptions
from torchestimator.server._model_registry import ModelConfig

__all__ = ["parse_batching_parameters", "parse_model_config"]


def _read(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as err:
        raise InvalidArgumentError(f"{what} {path!r} cannot be read: {err}.") from err


def parse_model_config(text: str, source: str = "<model_config>") -> list[ModelConfig]:
    """The models of a ``ModelServerConfig`` text proto.

    Raises:
        InvalidArgumentError: a syntax error, an unknown field, a relative base_path, or no models.
    """
    msg = pb.ModelServerConfig()
    try:
        text_format.Parse(text, msg)
    except text_format.ParseError as err:
        raise InvalidArgumentError(f"{source}: not a ModelServerConfig text proto: {err}") from err
    configs = []
    for c in msg.model_config_list.config:
        if not os.path.isabs(c.base_path):
            raise InvalidArgumentError(
                f"{source}: Expected model {c.name} to have an absolute path or URI; got base_path()={c.base_path}"
            )
        if c.model_platform not in ("", "tensorflow", "torchestimator"):
            raise InvalidArgumentError(
                f"{source}: model {c.name}: model_platform {c.model_platform!r} is not served here; use "
                "'tensorflow' (or leave it out)."
            )
        policy = c.model_version_policy.WhichOneof("policy_choice") or "latest"
        configs.append(
            ModelConfig(
                name=c.name,
                base_path=c.base_path,
                version_policy=policy,
                num_versions=c.model_version_policy.latest.num_versions or 1,
                versions=tuple(c.model_version_policy.specific.versions),
                version_labels=dict(c.version_labels),
            )
        )
    if not configs:
        raise InvalidArgumentError(f"{source}: model_config_list lists no model.")
    return configs


def parse_batching_parameters(text: str, source: str = "<batching_parameters>") -> BatchingOptions:
    """``BatchingOptions`` from a ``BatchingParameters`` text proto (unset fields keep TF Serving's defaults).

    Raises:
        InvalidArgumentError: a syntax error or an unknown field.
    """
    msg = pb.BatchingParameters()
    try:
        text_format.Parse(text, msg)
    except text_format.ParseError as err:
        raise InvalidArgumentError(f"{source}: not a BatchingParameters text proto: {err}") from err
    changes = {
        name: getattr(msg, name).value
        for name in ("max_batch_size", "batch_timeout_micros", "num_batch_threads", "max_enqueued_batches")
        if msg.HasField(name)
    }
    return BatchingOptions().replace(**changes)


def read_model_config(path: str) -> list[ModelConfig]:
    """:func:`parse_model_config` of a file."""
    return parse_model_config(_read(path, "--model_config_file"), path)


def read_batching_parameters(path: str) -> BatchingOptions:
    """:func:`parse_batching_parameters` of a file."""
    return parse_batching_parameters(_read(path, "--batching_parameters_file"), path)
