"""Serving input receivers (``tf.estimator.export``): what a served model takes as input.

There are no placeholders in torch: a receiver describes its inputs with :class:`TensorSpec`
(shape with ``-1`` / ``None`` for the batch, dtype). Two kinds, as in TF:

* parsing (:func:`build_parsing_serving_input_receiver_fn`): one 1-D string input of serialized
  ``tf.Example`` (receiver key ``examples``) parsed with a parse spec. Only this kind yields the
  ``classification`` / ``regression`` signatures (input key ``inputs``); ``predict`` takes ``examples``.
* raw (:func:`build_raw_serving_input_receiver_fn`): one input per feature; only ``predict``.

Example:
    >>> import numpy as np
    >>> fn = build_raw_serving_input_receiver_fn({"x": np.zeros((4, 2), np.float32)})
    >>> fn().receiver_tensors["x"]
    TensorSpec(shape=(-1, 2), dtype='float32')
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from torchestimator.errors import InvalidArgumentError

logger = logging.getLogger("torchestimator")

__all__ = [
    "ServingInputReceiver",
    "TensorServingInputReceiver",
    "TensorSpec",
    "build_parsing_serving_input_receiver_fn",
    "build_raw_serving_input_receiver_fn",
    "raw_signature_inputs",
    "spec_of",
]


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """A placeholder: ``shape`` (``-1`` = any size) and ``dtype`` name."""

    shape: tuple[int, ...]
    dtype: str

    def to_json(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype}


def spec_of(value: Any, batch: int | None, name: str) -> TensorSpec:
    if isinstance(value, TensorSpec):
        return value
    arr = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    if arr.ndim == 0:
        raise InvalidArgumentError(
            f"receiver feature {name!r} must have a batch dimension; received a scalar."
        )
    dtype = "string" if arr.dtype.kind in "OUS" else str(arr.dtype)
    return TensorSpec((-1 if batch is None else int(batch), *arr.shape[1:]), dtype)


def _as_dict(value: Any, default_key: str) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {default_key: value}


@dataclasses.dataclass
class ServingInputReceiver:
    """Features for the model and the tensors a client sends (``tf.estimator.export.ServingInputReceiver``).

    Args:
        features: ``{key: TensorSpec | array}`` (a single value is wrapped as ``{'feature': v}``).
        receiver_tensors: ``{key: TensorSpec}`` (a single value is wrapped as ``{'input': v}``).
        receiver_tensors_alternatives: accepted for TF compatibility; not exported.
        parse_spec: set by the parsing receiver: the ``{key: FixedLenFeature | VarLenFeature}`` applied
            to the ``examples`` input.

    Raises:
        InvalidArgumentError: no features or no receiver tensors.
    """

    features: Any
    receiver_tensors: Any
    receiver_tensors_alternatives: Any = None
    parse_spec: Mapping[str, Any] | None = None
    # receiver key -> feature key, for receiver tensors that are (the same object as) a feature (TF's placeholders)
    feature_of_input: dict[str, str] = dataclasses.field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        raw_features = _as_dict(self.features, "feature")
        for rkey, rvalue in _as_dict(self.receiver_tensors, "input").items():
            same = [fkey for fkey, fvalue in raw_features.items() if fvalue is rvalue]
            if rkey in raw_features or len(same) == 1:
                self.feature_of_input[rkey] = rkey if rkey in raw_features else same[0]
        self.features = {k: spec_of(v, None, k) for k, v in _as_dict(self.features, "feature").items()}
        self.receiver_tensors = {
            k: spec_of(v, None, k) for k, v in _as_dict(self.receiver_tensors, "input").items()
        }
        if not self.features:
            raise InvalidArgumentError("ServingInputReceiver: features must not be empty.")
        if not self.receiver_tensors:
            raise InvalidArgumentError("ServingInputReceiver: receiver_tensors must not be empty.")

    @property
    def is_parsing(self) -> bool:
        """True when the receiver takes one string tensor of serialized Examples."""
        return self.parse_spec is not None


class TensorServingInputReceiver(ServingInputReceiver):
    """A receiver whose single feature is passed as a tensor (``features`` must be one value)."""

    def __init__(
        self, features: Any, receiver_tensors: Any, receiver_tensors_alternatives: Any = None
    ) -> None:
        if isinstance(features, Mapping):
            raise InvalidArgumentError(
                "TensorServingInputReceiver: features must be a single tensor, not a dict."
            )
        super().__init__(features, receiver_tensors, receiver_tensors_alternatives)


def build_parsing_serving_input_receiver_fn(
    feature_spec: Mapping[str, Any], default_batch_size: int | None = None
) -> Callable[[], ServingInputReceiver]:
    """A receiver fn taking serialized ``tf.Example`` (key ``examples``) parsed with ``feature_spec``.

    Args:
        feature_spec: ``{key: FixedLenFeature | VarLenFeature}``, e.g. from ``make_parse_example_spec``.
        default_batch_size: a fixed batch size, or None for any.

    Returns:
        A function returning a :class:`ServingInputReceiver`.

    Raises:
        InvalidArgumentError: an empty spec.
    """
    from torchestimator.parsing import FixedLenFeature, VarLenFeature

    spec = dict(feature_spec)
    if not spec:
        raise InvalidArgumentError("build_parsing_serving_input_receiver_fn: feature_spec must not be empty.")
    batch = -1 if default_batch_size is None else int(default_batch_size)

    def receiver_fn() -> ServingInputReceiver:
        features = {
            k: TensorSpec((batch, *v.shape) if isinstance(v, FixedLenFeature) else (batch, -1), v.dtype)
            for k, v in spec.items()
            if isinstance(v, (FixedLenFeature, VarLenFeature))
        }
        return ServingInputReceiver(features, {"examples": TensorSpec((batch,), "string")}, parse_spec=spec)

    return receiver_fn


def build_raw_serving_input_receiver_fn(
    features: Mapping[str, Any], default_batch_size: int | None = None
) -> Callable[[], ServingInputReceiver]:
    """A receiver fn taking one input per feature, shaped ``[batch] + value.shape[1:]``.

    Args:
        features: ``{key: array | tensor | TensorSpec}`` examples of each feature.
        default_batch_size: a fixed batch size, or None for any.

    Returns:
        A function returning a :class:`ServingInputReceiver`.
    """
    specs = {k: spec_of(v, default_batch_size, k) for k, v in features.items()}

    def receiver_fn() -> ServingInputReceiver:
        return ServingInputReceiver(dict(specs), dict(specs))

    return receiver_fn


def raw_signature_inputs(receiver: ServingInputReceiver) -> dict[str, Any]:
    """A raw receiver's signature inputs: TF keys them by ``receiver_tensors``; each names the feature it feeds.

    When the receiver tensors are the features under other keys (the same placeholder objects, TF's way), the
    input is the receiver key with ``"feature": <feature key>``; when they cannot be matched to the features,
    the features' keys are used and a warning says so.
    """
    mapping = receiver.feature_of_input
    if set(mapping) == set(receiver.receiver_tensors) and set(mapping.values()) == set(receiver.features):
        return {
            rkey: {**receiver.features[fkey].to_json(), **({"feature": fkey} if fkey != rkey else {})}
            for rkey, fkey in mapping.items()
        }
    logger.warning(
        "receiver_tensors %s are not the features %s (pass the same TensorSpec objects in both, as TF passes the "
        "same placeholders); the signature takes the features' keys.",
        sorted(receiver.receiver_tensors),
        sorted(receiver.features),
    )
    return {k: v.to_json() for k, v in receiver.features.items()}
