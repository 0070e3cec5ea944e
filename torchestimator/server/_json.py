"""TF Serving's JSON mapping (``tensorflow_serving/util/json_tensor.cc``), in Python.

- Predict requests: ``instances`` (row format) or ``inputs`` (columnar) -> ``{input key: array}``, typed by
  the signature's input dtypes; ``{"b64": ...}`` for binary strings; ``NaN`` / ``Infinity`` accepted.
- Classify / regress requests: ``examples`` (+ ``context``) -> serialized ``tf.Example`` (an integer JSON
  number becomes ``int64_list``, a decimal ``float_list``, a string or ``{"b64"}`` ``bytes_list``, a bool
  ``int64_list``); the context is prepended to each example's bytes, as TF Serving merges it.
- Responses: ``predictions`` (row, one object per row when several outputs) / ``outputs`` (columnar);
  floats written as TF Serving writes them (shortest float32 text that round-trips, ``.0`` on whole numbers,
  ``NaN``/``Infinity``); outputs whose key ends in ``_bytes`` as ``{"b64": ...}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from torchestimator.server._status import ServingError
from torchestimator.server._tensors import dt_name

__all__ = [
    "dumps_classification",
    "dumps_regression",
    "dumps_tensors",
    "examples_from_json",
    "loads_request",
    "tensors_from_json",
]


def _err(message: str) -> ServingError:
    return ServingError("INVALID_ARGUMENT", message)


def _debug(value: Any) -> str:
    return json.dumps(value)[:256]


def _json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return "Number"
    if isinstance(value, str):
        return "String"
    return "Array" if isinstance(value, list) else "Object"


def loads_request(body: bytes) -> dict[str, Any]:
    """Parse a request body; TF Serving's messages for empty, malformed and non-object documents."""
    if not body:
        raise _err("JSON Parse error: The document is empty")
    try:
        doc = json.loads(body)
    except UnicodeDecodeError as err:
        raise _err(f"JSON Parse error: Invalid encoding in string. at offset: {err.start}") from err
    except json.JSONDecodeError as err:
        raise _err(f"JSON Parse error: {err.msg} at offset: {err.pos}") from err
    if not isinstance(doc, dict):
        raise _err(f"JSON Value: {_debug(doc)} Is not object")
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise _err(
            f"JSON Value: {_debug(doc)} not formatted correctly. 'signature_name' key must be a string value."
        )
    return doc


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _b64decode(value: Any) -> bytes:
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError) as err:
        raise _err("Unable to base64 decode") from err


def _scalar(value: Any, dtype: str) -> Any:
    ok = {
        "string": isinstance(value, str) or _is_b64(value),
        "bool": isinstance(value, bool),
        "float32": isinstance(value, (int, float)) and not isinstance(value, bool),
        "float64": isinstance(value, (int, float)) and not isinstance(value, bool),
    }.get(dtype, isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        raise _err(
            f"JSON Value: {_debug(value)} Type: {_json_type(value)} is not of expected type: "
            f"{dt_name(dtype)[3:].lower()}"
        )
    if dtype == "string":
        return _b64decode(value) if isinstance(value, dict) else value.encode("utf-8")
    return value


def _shape(value: Any) -> list[int]:
    shape: list[int] = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value: Any, level: int, shape: list[int], dtype: str, out: list[Any]) -> None:
    if not isinstance(value, list):
        if level != len(shape):
            raise _err(
                f"JSON Value: {_debug(value)} found at incorrect level: {level + 1} in the JSON DOM. "
                f"Expected at level: {len(shape)}"
            )
        out.append(_scalar(value, dtype))
        return
    if level >= len(shape):
        raise _err(f"Encountered list at unexpected level: {level} expected < {len(shape)}")
    if len(value) != shape[level]:
        raise _err(
            f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: {shape[level]}"
        )
    for item in value:
        _fill(item, level + 1, shape, dtype, out)


def _to_array(value: Any, dtype: str) -> np.ndarray:
    from torchestimator.server._service import numpy_dtype

    shape = _shape(value)
    flat: list[Any] = []
    _fill(value, 0, shape, dtype, flat)
    np_type = numpy_dtype(dtype)
    if np_type is object:
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
    else:
        arr = np.asarray(flat, dtype=np_type)
    return arr.reshape(shape)


def tensors_from_json(doc: Mapping[str, Any], dtypes: Mapping[str, str]) -> tuple[dict[str, np.ndarray], str]:
    """``({input key: array}, "row" | "columnar")`` from a predict request (TF Serving's checks and messages)."""
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise _err(
            f"JSON Value: {_debug(doc)} Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist "
        )
    if has_inputs:
        return _columnar(doc["inputs"], dtypes), "columnar"
    if not has_instances:
        raise _err("Missing 'inputs' or 'instances' key")
    instances = doc["instances"]
    if not isinstance(instances, list):
        raise _err(f"JSON Value: {_debug(doc)} Expecting 'instances' to be an list/array")
    if not instances:
        raise _err(f"JSON Value: {_debug(doc)} No values in 'instances' array")
    return _rows(instances, dtypes), "row"


def _rows(instances: list[Any], dtypes: Mapping[str, str]) -> dict[str, np.ndarray]:
    def is_object(v: Any) -> bool:
        return isinstance(v, dict) and not _is_b64(v)

    objects = is_object(instances[0])
    if not objects and len(dtypes) > 1:
        raise _err(
            "instances is a plain list, but expecting list of objects as multiple input tensors required as per "
            "tensorinfo_map"
        )
    columns: dict[str, list[np.ndarray]] = {k: [] for k in dtypes}
    for i, item in enumerate(instances):
        if objects != is_object(item):
            what = "object but got list" if objects else "value/list but got object"
            raise _err(f"Expecting {what} at item {i} of input list")
        named = item if objects else {next(iter(dtypes)): item}
        for key, value in named.items():
            if key not in dtypes:
                raise _err(
                    f"Failed to process element: {i} key: {key} of 'instances' list. Error: "
                    f"JSON object: does not have named input: {key}"
                )
            try:
                columns[key].append(_to_array(value, dtypes[key]))
            except ServingError as err:
                raise _err(
                    f"Failed to process element: {i} key: {key} of 'instances' list. Error: {err.message}"
                ) from err
            if columns[key][0].shape != columns[key][-1].shape:
                raise _err(
                    f"Expecting shape {list(columns[key][0].shape)} but got: {list(columns[key][-1].shape)}"
                )
        if set(named) != set(dtypes):
            raise _err(
                f"Failed to process element: {i} of 'instances' list. JSON object: {_debug(item)} keys must be "
                f"equal to: {','.join(sorted(dtypes))}"
            )
    return {k: _stack(v) for k, v in columns.items()}


def _stack(rows: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([r.reshape(-1) for r in rows]).reshape(len(rows), *rows[0].shape)


def _cell(arr: np.ndarray, i: int) -> np.ndarray:
    """Row ``i`` as an array (indexing a 1-D object array gives the bare element)."""
    return np.asarray(arr[i], dtype=arr.dtype) if arr.dtype == object else arr[i]


def _columnar(value: Any, dtypes: Mapping[str, str]) -> dict[str, np.ndarray]:
    if not isinstance(value, dict) or _is_b64(value):
        if len(dtypes) > 1:
            raise _err(
                "inputs is a plain value/list, but expecting an object as multiple input tensors required as per "
                "tensorinfo_map"
            )
        key = next(iter(dtypes))
        return {key: _to_array(value, dtypes[key])}
    out = {}
    for key, dtype in dtypes.items():
        if key not in value:
            raise _err(f"Missing named input: {key} in 'inputs' object.")
        out[key] = _to_array(value[key], dtype)
    return out


def _feature(name: str, values: Any, feature: Any) -> None:
    kinds: set[str] = set()
    items = values if isinstance(values, list) else [values]
    out: list[Any] = []
    for v in items:
        if v is None or isinstance(v, list) or (isinstance(v, dict) and not _is_b64(v)):
            raise _err(f"Feature: {name} has element with unexpected JSON type: {_json_type(v)}")
        if isinstance(v, bool):
            kind, v = "int64", int(v)
        elif isinstance(v, int):
            if v >= 2**63:
                raise _err(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
            kind = "int64"
        elif isinstance(v, float):
            kind = "float"
        else:
            kind, v = "bytes", (_b64decode(v) if isinstance(v, dict) else v.encode("utf-8"))
        if kinds and kind not in kinds:
            raise _err(f"Unexpected element type in feature: {name} expecting type: {next(iter(kinds))}")
        kinds.add(kind)
        out.append(v)
    if kinds:
        getattr(feature, f"{kinds.pop()}_list").value.extend(out)


def _example(value: Any) -> bytes:
    from torchestimator.inputs.example_proto import Example

    if not isinstance(value, dict):
        raise _err(f"Example must be JSON object but got JSON {_json_type(value)}")
    msg = Example()
    for name, values in value.items():
        _feature(name, values, msg.features.feature[name])
    return msg.SerializeToString()


def examples_from_json(doc: Mapping[str, Any]) -> list[bytes]:
    """Serialized ``tf.Example`` of a classify / regress request, the context merged into each."""
    context = _example(doc["context"]) if "context" in doc else b""
    if "examples" not in doc:
        raise _err(
            f"JSON Value: {_debug(doc)} When method is classify, key 'examples' is expected and was not found"
        )
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise _err(f"JSON Value: {_debug(doc)} Expecting 'examples' value to be an list/array")
    if not examples:
        raise _err(f"JSON Value: {_debug(doc)} 'examples' value is an empty array")
    return [context + _example(e) for e in examples]


def decimal(value: float, float32: bool = True) -> str:
    """A float as TF Serving writes it (``WriteDecimal``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = f"{value:g}"
    back = np.float32(text) if float32 else float(text)
    if back != (np.float32(value) if float32 else value):
        text = f"{value:.9g}" if float32 else f"{value:.17g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _values(arr: np.ndarray, as_b64: bool) -> str:
    if arr.ndim:
        return "[" + ", ".join(_values(_cell(arr, i), as_b64) for i in range(arr.shape[0])) + "]"
    v = arr.item() if arr.dtype != object else arr[()]
    if arr.dtype.kind == "f":
        return decimal(float(v), arr.dtype == np.float32 or arr.dtype == np.float16)
    if arr.dtype.kind == "b":
        return "true" if v else "false"
    if arr.dtype.kind in "iu":
        return str(int(v))
    raw = v if isinstance(v, bytes) else str(v).encode("utf-8")
    if as_b64:
        return '{"b64": "' + base64.b64encode(raw).decode("ascii") + '"}'
    return json.dumps(raw.decode("utf-8", "replace"))


def dumps_tensors(outputs: Mapping[str, np.ndarray], fmt: str) -> str:
    """The predict response body: ``{"predictions": ...}`` (row) or ``{"outputs": ...}`` (columnar)."""
    if not outputs:
        raise _err("Cannot convert empty tensor map to JSON")
    many = len(outputs) > 1
    if fmt == "columnar":
        parts = [
            (json.dumps(k) + ": " if many else "") + _values(np.asarray(v), k.endswith("_bytes"))
            for k, v in outputs.items()
        ]
        body = "{" + ", ".join(parts) + "}" if many else parts[0]
        return '{\n    "outputs": ' + body + "\n}"
    sizes = {np.asarray(v).shape[0] if np.asarray(v).ndim else -1 for v in outputs.values()}
    if -1 in sizes or len(sizes) != 1:
        raise _err("Tensor name: has inconsistent batch size or no shape information")
    rows = []
    for i in range(sizes.pop()):
        cells = [
            (json.dumps(k) + ": " if many else "") + _values(_cell(np.asarray(v), i), k.endswith("_bytes"))
            for k, v in outputs.items()
        ]
        rows.append("{" + ", ".join(cells) + "}" if many else cells[0])
    return '{\n    "predictions": [' + ",\n        ".join(rows) + "\n    ]\n}"


def dumps_classification(classes: np.ndarray | None, scores: np.ndarray | None) -> str:
    """``{"result": [[[label, score], ...], ...]}``."""
    ref = classes if classes is not None else scores
    assert ref is not None  # the service checked that one of them is present
    rows = []
    for i in range(ref.shape[0]):
        pairs = []
        for j in range(ref.shape[1]):
            label = b"" if classes is None else classes[i, j]
            label_text = label.decode("utf-8", "replace") if isinstance(label, bytes) else str(label)
            score = 0.0 if scores is None else float(scores[i, j])
            pairs.append(f"[{json.dumps(label_text)}, {decimal(score)}]")
        rows.append("[" + ", ".join(pairs) + "]")
    return '{\n    "result": [\n        ' + ",\n        ".join(rows) + "\n    ]\n}"


def dumps_regression(values: np.ndarray) -> str:
    """``{"result": [v1, v2, ...]}``."""
    return '{\n    "result": [' + ", ".join(decimal(float(v)) for v in values) + "]\n}"
