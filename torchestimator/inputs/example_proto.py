"""``tf.train.Example`` / ``SequenceExample`` with the protobuf runtime and no TensorFlow.

The message classes come from a descriptor built at runtime (``descriptor_pb2`` + a private
``DescriptorPool``), wire-compatible with ``tensorflow/core/example/{feature,example}.proto``. No
generated ``_pb2`` file is involved, so this works across protobuf 4.x-7.x, and a private pool never
clashes with TensorFlow's own ``tensorflow.Example`` if both are imported.

Decoded features are ``dict[str, tuple[kind, list]]`` with ``kind`` one of ``"bytes"``, ``"float"``,
``"int64"`` or ``None`` (a ``Feature`` with no list set, which TF treats as missing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message import DecodeError, Message

from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.proto_classes import message_classes

__all__ = [
    "Example",
    "SequenceExample",
    "decode_example",
    "decode_sequence_example",
    "encode_example",
    "encode_sequence_example",
]

_F = descriptor_pb2.FieldDescriptorProto
_KINDS = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}


def _field(msg: Any, name: str, number: int, ftype: int, label: int = _F.LABEL_OPTIONAL, **kw: Any) -> Any:
    f = msg.field.add(name=name, number=number, type=ftype, label=label, **kw)
    return f


def _map_field(msg: Any, name: str, value_type: str) -> None:
    entry = msg.nested_type.add(name=name[0].upper() + name[1:] + "Entry")
    entry.options.map_entry = True
    _field(entry, "key", 1, _F.TYPE_STRING)
    _field(entry, "value", 2, _F.TYPE_MESSAGE, type_name=value_type)
    _field(msg, name, 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, type_name=f".tensorflow.{msg.name}.{entry.name}")


def _build_classes() -> tuple[Any, dict[str, type[Message]]]:
    fdp = descriptor_pb2.FileDescriptorProto(
        name="torchestimator/example.proto", package="tensorflow", syntax="proto3"
    )
    for name, ftype in (
        ("BytesList", _F.TYPE_BYTES),
        ("FloatList", _F.TYPE_FLOAT),
        ("Int64List", _F.TYPE_INT64),
    ):
        msg = fdp.message_type.add(name=name)
        f = _field(msg, "value", 1, ftype, _F.LABEL_REPEATED)
        if ftype != _F.TYPE_BYTES:
            f.options.packed = True
    feature = fdp.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for number, (fname, tname) in enumerate(
        (("bytes_list", "BytesList"), ("float_list", "FloatList"), ("int64_list", "Int64List")), start=1
    ):
        _field(feature, fname, number, _F.TYPE_MESSAGE, type_name=f".tensorflow.{tname}", oneof_index=0)
    features = fdp.message_type.add(name="Features")
    _map_field(features, "feature", ".tensorflow.Feature")
    feature_list = fdp.message_type.add(name="FeatureList")
    _field(feature_list, "feature", 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, type_name=".tensorflow.Feature")
    feature_lists = fdp.message_type.add(name="FeatureLists")
    _map_field(feature_lists, "feature_list", ".tensorflow.FeatureList")
    example = fdp.message_type.add(name="Example")
    _field(example, "features", 1, _F.TYPE_MESSAGE, type_name=".tensorflow.Features")
    seq = fdp.message_type.add(name="SequenceExample")
    _field(seq, "context", 1, _F.TYPE_MESSAGE, type_name=".tensorflow.Features")
    _field(seq, "feature_lists", 2, _F.TYPE_MESSAGE, type_name=".tensorflow.FeatureLists")

    # Wire-identical twins that spell each map as a repeated (key, value) entry: iterating a repeated
    # field is several times faster than a map's items() in the upb runtime, so decoding uses these.
    # Their keys are bytes, as in TF's C++ parser (a proto3 string key must be valid UTF-8 for protobuf).
    for name, value_type in (("Feature", ".tensorflow.Feature"), ("FeatureList", ".tensorflow.FeatureList")):
        entry = fdp.message_type.add(name=f"_{name}Entry")
        _field(entry, "key", 1, _F.TYPE_BYTES)
        _field(entry, "value", 2, _F.TYPE_MESSAGE, type_name=value_type)
    features_entries = fdp.message_type.add(name="_FeaturesEntries")
    _field(
        features_entries,
        "feature",
        1,
        _F.TYPE_MESSAGE,
        _F.LABEL_REPEATED,
        type_name=".tensorflow._FeatureEntry",
    )
    lists_entries = fdp.message_type.add(name="_FeatureListsEntries")
    _field(
        lists_entries,
        "feature_list",
        1,
        _F.TYPE_MESSAGE,
        _F.LABEL_REPEATED,
        type_name=".tensorflow._FeatureListEntry",
    )
    example_entries = fdp.message_type.add(name="_ExampleEntries")
    _field(example_entries, "features", 1, _F.TYPE_MESSAGE, type_name=".tensorflow._FeaturesEntries")
    seq_entries = fdp.message_type.add(name="_SequenceExampleEntries")
    _field(seq_entries, "context", 1, _F.TYPE_MESSAGE, type_name=".tensorflow._FeaturesEntries")
    _field(seq_entries, "feature_lists", 2, _F.TYPE_MESSAGE, type_name=".tensorflow._FeatureListsEntries")

    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return pool, message_classes(pool, [fdp.name])  # kept with the pool: see torchestimator.proto_classes


_POOL, _CLASSES = _build_classes()
Example: type[Message] = _CLASSES["tensorflow.Example"]
SequenceExample: type[Message] = _CLASSES["tensorflow.SequenceExample"]
_ExampleEntries = _CLASSES["tensorflow._ExampleEntries"]
_SequenceExampleEntries = _CLASSES["tensorflow._SequenceExampleEntries"]

DecodedFeatures = dict[str, tuple[str | None, list[Any]]]


def _decode_features(features_msg: Any) -> DecodedFeatures:
    out: DecodedFeatures = {}
    for entry in features_msg.feature:  # a repeated entry: a key seen twice keeps the last, as a map does
        feat = entry.value
        which = feat.WhichOneof("kind")
        key = entry.key.decode("utf-8", "surrogateescape")
        if which is None:
            out[key] = (None, [])
        else:
            out[key] = (_KINDS[which], list(getattr(feat, which).value))
    return out


def _parse(cls: type[Message], serialized: bytes, what: str) -> Any:
    msg = cls()
    try:
        msg.ParseFromString(serialized)
    except DecodeError as err:
        raise InputError(
            f"Cannot decode a serialized {what} ({len(serialized)} bytes): {err}. Is the record a {what}?"
        ) from err
    return msg


def decode_example(serialized: bytes) -> DecodedFeatures:
    """Decode a serialized ``tf.train.Example``.

    Args:
        serialized: the wire bytes.

    Returns:
        ``{key: (kind, values)}`` with kind ``"bytes"`` / ``"float"`` / ``"int64"`` / ``None``.

    Raises:
        InputError: the bytes are not a valid Example.
    """
    return _decode_features(_parse(_ExampleEntries, serialized, "tf.train.Example").features)


def decode_sequence_example(
    serialized: bytes,
) -> tuple[DecodedFeatures, dict[str, list[tuple[str | None, list[Any]]]]]:
    """Decode a serialized ``tf.train.SequenceExample`` into ``(context, feature_lists)``.

    Returns:
        ``context`` as :func:`decode_example` gives it, and ``{key: [(kind, values) per step]}``.

    Raises:
        InputError: the bytes are not a valid SequenceExample.
    """
    msg = _parse(_SequenceExampleEntries, serialized, "tf.train.SequenceExample")
    context = _decode_features(msg.context)
    lists: dict[str, list[tuple[str | None, list[Any]]]] = {}
    for entry in msg.feature_lists.feature_list:
        key = entry.key.decode("utf-8", "surrogateescape")
        steps: list[tuple[str | None, list[Any]]] = []
        for feat in entry.value.feature:
            which = feat.WhichOneof("kind")
            steps.append((None, []) if which is None else (_KINDS[which], list(getattr(feat, which).value)))
        lists[key] = steps
    return context, lists


def _list_kind(value: Any) -> str | None:
    """``"bytes"`` / ``"float"`` / ``"int64"`` for a non-empty value, ``None`` for an empty one."""
    if isinstance(value, (bytes, str)) or np.isscalar(value):
        value = [value]
    arr = np.asarray(value)
    if arr.size == 0:
        return None
    if arr.dtype == object or arr.dtype.kind in "SU":
        return "bytes"
    return "float" if arr.dtype.kind == "f" else "int64"


def _fill_feature(feat: Any, key: str, value: Any, empty_kind: str | None = None) -> None:
    """Set a ``Feature`` from a python/numpy value, choosing the list type from the values (an empty
    value gets ``empty_kind``, default ``float`` as ``tf.train.Feature(float_list=...)``)."""
    if isinstance(value, (bytes, str)) or np.isscalar(value):
        value = [value]
    arr = np.asarray(value)
    flat = arr.reshape(-1)
    if arr.size == 0 and empty_kind is not None:
        getattr(feat, f"{empty_kind}_list").SetInParent()
        return
    if arr.dtype == object or arr.dtype.kind in "SU":
        feat.bytes_list.SetInParent()
        feat.bytes_list.value.extend(v.encode() if isinstance(v, str) else bytes(v) for v in flat.tolist())
    elif arr.dtype.kind == "f":
        feat.float_list.SetInParent()  # an empty [] still sets the list, as TF writes it
        feat.float_list.value.extend(flat.astype(np.float32).tolist())
    elif arr.dtype.kind in "iub":
        feat.int64_list.SetInParent()
        feat.int64_list.value.extend(flat.astype(np.int64).tolist())
    else:
        raise InvalidArgumentError(
            f"Feature {key!r}: cannot encode values of dtype {arr.dtype}; use float, int or bytes/str values."
        )


def encode_example(features: Mapping[str, Any]) -> bytes:
    """Serialize a ``tf.train.Example`` from ``{key: value}``.

    Floats become ``float_list`` (float32), ints / bools ``int64_list``, ``str`` / ``bytes``
    ``bytes_list`` (str encoded as UTF-8). A value may be a scalar, a list or a numpy array
    (flattened, as TF stores it).

    Example:
        >>> decode_example(encode_example({"x": [1.5, 2.0], "id": 7, "w": "a"}))["x"]
        ('float', [1.5, 2.0])
    """
    msg = Example()
    feature_map = msg.features.feature
    for key, value in features.items():
        _fill_feature(feature_map[key], key, value)
    return msg.SerializeToString(deterministic=True)  # map entries sorted by key: same bytes in every process


def encode_sequence_example(context: Mapping[str, Any], feature_lists: Mapping[str, Iterable[Any]]) -> bytes:
    """Serialize a ``tf.train.SequenceExample``: ``context`` as in :func:`encode_example`, and
    ``feature_lists`` mapping each key to its steps (each step a value as in :func:`encode_example`)."""
    msg = SequenceExample()
    for key, value in context.items():
        _fill_feature(msg.context.feature[key], key, value)
    for key, steps in feature_lists.items():
        flist = msg.feature_lists.feature_list[key]
        steps = list(steps)
        kinds = [k for k in map(_list_kind, steps) if k is not None]
        for step in steps:  # an empty step takes the list's kind, so the whole list has one type
            _fill_feature(flist.feature.add(), key, step, kinds[0] if kinds else None)
    return msg.SerializeToString(deterministic=True)
