"""numpy arrays <-> ``tensorflow.TensorProto``, and the manifest's dtype names <-> TF's ``DataType``.

Responses use the typed value fields (``float_val``, ``int64_val``, ``string_val``...), as TF Serving's
default ``AsProtoField`` serialization does, so clients reading ``outputs["scores"].float_val`` work;
requests may use either the typed fields or ``tensor_content``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from torchestimator.server._protos import DATA_TYPES, TensorProto
from torchestimator.server._status import ServingError

__all__ = ["DTYPE_TO_NUMPY", "dt_name", "make_tensor_proto", "numpy_from_tensor_proto"]

# manifest dtype name -> (DataType name, numpy dtype, TensorProto value field)
_TABLE: dict[str, tuple[str, Any, str]] = {
    "float32": ("DT_FLOAT", np.float32, "float_val"),
    "float64": ("DT_DOUBLE", np.float64, "double_val"),
    "int32": ("DT_INT32", np.int32, "int_val"),
    "int16": ("DT_INT16", np.int16, "int_val"),
    "int8": ("DT_INT8", np.int8, "int_val"),
    "uint8": ("DT_UINT8", np.uint8, "int_val"),
    "int64": ("DT_INT64", np.int64, "int64_val"),
    "uint32": ("DT_UINT32", np.uint32, "uint32_val"),
    "uint64": ("DT_UINT64", np.uint64, "uint64_val"),
    "bool": ("DT_BOOL", np.bool_, "bool_val"),
    "string": ("DT_STRING", object, "string_val"),
    "float16": ("DT_HALF", np.float16, "half_val"),
}
_BY_DT = {dt: (name, np_type, field) for name, (dt, np_type, field) in _TABLE.items()}
_DT_NAMES = {v: k for k, v in DATA_TYPES.items()}
DTYPE_TO_NUMPY = {dt: np_type for dt, np_type, _ in _TABLE.values()}


def dt_name(dtype: str) -> str:
    """The ``DataType`` name (``'DT_FLOAT'``) of a manifest dtype name (``'float32'``)."""
    return _TABLE[dtype][0] if dtype in _TABLE else "DT_INVALID"


def _numpy_kind(arr: np.ndarray) -> str:
    if arr.dtype == object or arr.dtype.kind in "SU":
        return "string"
    return str(arr.dtype)


def make_tensor_proto(value: np.ndarray) -> Any:
    """A ``TensorProto`` of ``value`` with its shape and the typed value field.

    Raises:
        ServingError: INTERNAL for a dtype TF Serving has no field for.
    """
    arr = np.asarray(value)
    kind = _numpy_kind(arr)
    if kind not in _TABLE:
        raise ServingError("INTERNAL", f"Cannot serialize an output of dtype {arr.dtype} to a TensorProto.")
    dt, _, field = _TABLE[kind]
    proto = TensorProto(dtype=DATA_TYPES[dt])
    for size in arr.shape:
        proto.tensor_shape.dim.add(size=int(size))
    flat = arr.reshape(-1)
    if kind == "string":
        getattr(proto, field).extend(v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in flat)
    elif kind == "float16":
        proto.half_val.extend(flat.view(np.uint16).astype(np.int32).tolist())
    else:
        getattr(proto, field).extend(flat.tolist())
    return proto


def numpy_from_tensor_proto(proto: Any, name: str) -> np.ndarray:
    """The array a ``TensorProto`` holds (``tensor_content`` or the typed field; one value is broadcast).

    Raises:
        ServingError: INVALID_ARGUMENT when the dtype is unsupported or the value count does not fit the shape.
    """
    dt = _DT_NAMES.get(proto.dtype, f"DataType {proto.dtype}")
    if dt not in _BY_DT:
        raise ServingError("INVALID_ARGUMENT", f"Input {name!r}: unsupported dtype {dt}.")
    _, np_type, field = _BY_DT[dt]
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    count = int(np.prod(shape)) if shape else 1
    if proto.tensor_content and dt != "DT_STRING":
        flat = np.frombuffer(proto.tensor_content, dtype=np.dtype(np_type).newbyteorder("<")).astype(np_type)
    elif dt == "DT_STRING":
        flat = np.empty(len(proto.string_val), dtype=object)
        flat[:] = list(proto.string_val)
    elif dt == "DT_HALF":
        flat = np.asarray(list(proto.half_val), dtype=np.uint16).view(np.float16)
    else:
        flat = np.asarray(list(getattr(proto, field)), dtype=np_type)
    if flat.size == 1 and count != 1:
        flat = np.full(count, flat[0], dtype=flat.dtype)
    if flat.size != count:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"Input {name!r}: tensor shape {list(shape)} needs {count} values but the proto holds {flat.size}.",
        )
    return flat.reshape(shape)
