"""TF Serving's gRPC messages, built at runtime from descriptors written here (no TensorFlow, no ``_pb2``).

Field numbers, types and full names follow ``tensorflow/core/framework/{tensor,tensor_shape,types}.proto``,
``tensorflow/core/protobuf/meta_graph.proto`` (``TensorInfo``, ``SignatureDef``) and
``tensorflow_serving/apis/{model,input,predict,classification,regression,get_model_metadata,
get_model_status,status}.proto`` and ``tensorflow_serving/config/model_server_config.proto``, so the official
``tensorflow-serving-api`` stubs talk to this server unchanged. The messages live in a private
``DescriptorPool``, so they never clash with TensorFlow's own if both are imported.

One deliberate twist, invisible on the wire: ``ExampleList.examples`` and ``ExampleListWithContext`` hold
``tensorflow.Example`` messages, which are declared here as ``bytes`` (a length-delimited field either
way), so the server receives each Example already serialized, ready for the export's parser.

Example:
    >>> req = PredictRequest()
    >>> req.model_spec.name = "m"
    >>> PredictRequest.FromString(req.SerializeToString()).model_spec.name
    'm'
"""

from __future__ import annotations

from typing import Any

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, wrappers_pb2

from torchestimator.proto_classes import message_classes

__all__ = [
    "DATA_TYPES",
    "AnyProto",
    "BatchingParameters",
    "ClassificationRequest",
    "ClassificationResponse",
    "GetModelMetadataRequest",
    "GetModelMetadataResponse",
    "GetModelStatusRequest",
    "GetModelStatusResponse",
    "ModelServerConfig",
    "PredictRequest",
    "PredictResponse",
    "RegressionRequest",
    "RegressionResponse",
    "SignatureDefMap",
    "TensorProto",
]

_F = descriptor_pb2.FieldDescriptorProto
_OPT, _REP = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
_SCALARS = {
    "string": _F.TYPE_STRING,
    "bytes": _F.TYPE_BYTES,
    "bool": _F.TYPE_BOOL,
    "float": _F.TYPE_FLOAT,
    "double": _F.TYPE_DOUBLE,
    "int32": _F.TYPE_INT32,
    "int64": _F.TYPE_INT64,
    "uint32": _F.TYPE_UINT32,
    "uint64": _F.TYPE_UINT64,
}

# tensorflow/core/framework/types.proto (the values a TensorProto or TensorInfo carries)
DATA_TYPES = {
    "DT_INVALID": 0,
    "DT_FLOAT": 1,
    "DT_DOUBLE": 2,
    "DT_INT32": 3,
    "DT_UINT8": 4,
    "DT_INT16": 5,
    "DT_INT8": 6,
    "DT_STRING": 7,
    "DT_COMPLEX64": 8,
    "DT_INT64": 9,
    "DT_BOOL": 10,
    "DT_BFLOAT16": 14,
    "DT_UINT16": 17,
    "DT_COMPLEX128": 18,
    "DT_HALF": 19,
    "DT_UINT32": 22,
    "DT_UINT64": 23,
}

# (message name, [(field name, number, type, label, oneof index)], oneof names). A type is a scalar name from
# _SCALARS, ".full.MessageName", or "enum:.full.EnumName"; "map<k,.V>" declares a map field.
_Field = tuple[str, int, str, int, int | None]


def _f(name: str, number: int, ftype: str, label: int = _OPT, oneof: int | None = None) -> _Field:
    return (name, number, ftype, label, oneof)


def _add_field(msg: Any, spec: _Field, package_prefix: str) -> None:
    name, number, ftype, label, oneof = spec
    kw: dict[str, Any] = {"name": name, "number": number, "label": label}
    if oneof is not None:
        kw["oneof_index"] = oneof
    if ftype.startswith("map<"):
        key_type, value_type = ftype[4:-1].split(",")
        entry = msg.nested_type.add(name="".join(p.capitalize() for p in name.split("_")) + "Entry")
        entry.options.map_entry = True
        _add_field(entry, _f("key", 1, key_type), package_prefix)
        _add_field(entry, _f("value", 2, value_type), package_prefix)
        kw.update(type=_F.TYPE_MESSAGE, label=_REP, type_name=f"{package_prefix}.{msg.name}.{entry.name}")
    elif ftype.startswith("enum:"):
        kw.update(type=_F.TYPE_ENUM, type_name=ftype[5:])
    elif ftype.startswith("."):
        kw.update(type=_F.TYPE_MESSAGE, type_name=ftype)
    else:
        kw["type"] = _SCALARS[ftype]
    field = msg.field.add(**kw)
    if label == _REP and ftype in _SCALARS and ftype not in ("string", "bytes"):
        field.options.packed = True


def _add_message(fdp: Any, name: str, fields: list[_Field], oneofs: tuple[str, ...] = ()) -> Any:
    parts = name.split(".")
    container = fdp
    for outer in parts[:-1]:  # a nested message: its parent was added first
        holder = container.message_type if container is fdp else container.nested_type
        container = next(m for m in holder if m.name == outer)
    holder = container.message_type if container is fdp else container.nested_type
    msg = holder.add(name=parts[-1])
    for oneof in oneofs:
        msg.oneof_decl.add(name=oneof)
    prefix = "." + ".".join([fdp.package, *parts[:-1]])
    for spec in fields:
        _add_field(msg, spec, prefix)
    return msg


def _framework_file() -> Any:
    fdp = descriptor_pb2.FileDescriptorProto(
        name="torchestimator/server/tensorflow_framework.proto", package="tensorflow", syntax="proto3"
    )
    enum = fdp.enum_type.add(name="DataType")
    for key, number in DATA_TYPES.items():
        enum.value.add(name=key, number=number)
    _add_message(
        fdp,
        "TensorShapeProto",
        [_f("dim", 2, ".tensorflow.TensorShapeProto.Dim", _REP), _f("unknown_rank", 3, "bool")],
    )
    _add_message(fdp, "TensorShapeProto.Dim", [_f("size", 1, "int64"), _f("name", 2, "string")])
    _add_message(
        fdp,
        "TensorProto",
        [
            _f("dtype", 1, "enum:.tensorflow.DataType"),
            _f("tensor_shape", 2, ".tensorflow.TensorShapeProto"),
            _f("version_number", 3, "int32"),
            _f("tensor_content", 4, "bytes"),
            _f("half_val", 13, "int32", _REP),
            _f("float_val", 5, "float", _REP),
            _f("double_val", 6, "double", _REP),
            _f("int_val", 7, "int32", _REP),
            _f("string_val", 8, "bytes", _REP),
            _f("scomplex_val", 9, "float", _REP),
            _f("int64_val", 10, "int64", _REP),
            _f("bool_val", 11, "bool", _REP),
            _f("dcomplex_val", 12, "double", _REP),
            _f("uint32_val", 16, "uint32", _REP),
            _f("uint64_val", 17, "uint64", _REP),
        ],
    )
    _add_message(
        fdp,
        "TensorInfo",
        [
            _f("name", 1, "string", oneof=0),
            _f("dtype", 2, "enum:.tensorflow.DataType"),
            _f("tensor_shape", 3, ".tensorflow.TensorShapeProto"),
        ],
        ("encoding",),
    )
    _add_message(
        fdp,
        "SignatureDef",
        [
            _f("inputs", 1, "map<string,.tensorflow.TensorInfo>"),
            _f("outputs", 2, "map<string,.tensorflow.TensorInfo>"),
            _f("method_name", 3, "string"),
            _f("defaults", 4, "map<string,.tensorflow.TensorProto>"),
        ],
    )
    return fdp


def _serving_file() -> Any:
    fdp = descriptor_pb2.FileDescriptorProto(
        name="torchestimator/server/tensorflow_serving_apis.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=[
            "google/protobuf/any.proto",
            "google/protobuf/wrappers.proto",
            "torchestimator/server/tensorflow_framework.proto",
        ],
    )
    spec = ".tensorflow.serving.ModelSpec"
    add = _add_message
    add(
        fdp,
        "ModelSpec",
        [
            _f("name", 1, "string"),
            _f("version", 2, ".google.protobuf.Int64Value", oneof=0),
            _f("version_label", 4, "string", oneof=0),
            _f("signature_name", 3, "string"),
        ],
        ("version_choice",),
    )
    # input.proto: tensorflow.Example declared as bytes (same wire format), see the module docstring.
    add(fdp, "ExampleList", [_f("examples", 1, "bytes", _REP)])
    add(fdp, "ExampleListWithContext", [_f("examples", 1, "bytes", _REP), _f("context", 2, "bytes")])
    add(
        fdp,
        "Input",
        [
            _f("example_list", 1, ".tensorflow.serving.ExampleList", oneof=0),
            _f("example_list_with_context", 2, ".tensorflow.serving.ExampleListWithContext", oneof=0),
        ],
        ("kind",),
    )
    add(
        fdp,
        "PredictRequest",
        [
            _f("model_spec", 1, spec),
            _f("inputs", 2, "map<string,.tensorflow.TensorProto>"),
            _f("output_filter", 3, "string", _REP),
        ],
    )
    add(
        fdp,
        "PredictResponse",
        [_f("model_spec", 2, spec), _f("outputs", 1, "map<string,.tensorflow.TensorProto>")],
    )
    add(fdp, "Class", [_f("label", 1, "string"), _f("score", 2, "float")])
    add(fdp, "Classifications", [_f("classes", 1, ".tensorflow.serving.Class", _REP)])
    add(fdp, "ClassificationResult", [_f("classifications", 1, ".tensorflow.serving.Classifications", _REP)])
    for verb, result in (("Classification", "ClassificationResult"), ("Regression", "RegressionResult")):
        if verb == "Regression":
            add(fdp, "Regression", [_f("value", 1, "float")])
            add(fdp, "RegressionResult", [_f("regressions", 1, ".tensorflow.serving.Regression", _REP)])
        add(fdp, f"{verb}Request", [_f("model_spec", 1, spec), _f("input", 2, ".tensorflow.serving.Input")])
        add(
            fdp,
            f"{verb}Response",
            [_f("model_spec", 2, spec), _f("result", 1, f".tensorflow.serving.{result}")],
        )
    add(fdp, "SignatureDefMap", [_f("signature_def", 1, "map<string,.tensorflow.SignatureDef>")])
    add(fdp, "GetModelMetadataRequest", [_f("model_spec", 1, spec), _f("metadata_field", 2, "string", _REP)])
    add(
        fdp,
        "GetModelMetadataResponse",
        [_f("model_spec", 1, spec), _f("metadata", 2, "map<string,.google.protobuf.Any>")],
    )
    # status.proto: error_code is tensorflow.error.Code, an enum; int32 is its wire twin.
    add(fdp, "StatusProto", [_f("error_code", 1, "int32"), _f("error_message", 2, "string")])
    add(fdp, "GetModelStatusRequest", [_f("model_spec", 1, spec)])
    state = fdp.message_type.add(name="ModelVersionStatus")
    enum = state.enum_type.add(name="State")
    for key, number in (
        ("UNKNOWN", 0),
        ("START", 10),
        ("LOADING", 20),
        ("AVAILABLE", 30),
        ("UNLOADING", 40),
        ("END", 50),
    ):
        enum.value.add(name=key, number=number)
    for field in (
        _f("version", 1, "int64"),
        _f("state", 2, "enum:.tensorflow.serving.ModelVersionStatus.State"),
        _f("status", 3, ".tensorflow.serving.StatusProto"),
    ):
        _add_field(state, field, ".tensorflow.serving")
    add(
        fdp,
        "GetModelStatusResponse",
        [_f("model_version_status", 1, ".tensorflow.serving.ModelVersionStatus", _REP)],
    )
    _config_messages(fdp)
    return fdp


def _config_messages(fdp: Any) -> None:
    """model_server_config.proto's ModelConfigList subset and session_bundle_config's BatchingParameters."""
    add = _add_message
    policy = "FileSystemStoragePathSourceConfig"
    add(fdp, policy, [])
    add(
        fdp,
        f"{policy}.ServableVersionPolicy",
        [
            _f("latest", 100, f".tensorflow.serving.{policy}.ServableVersionPolicy.Latest", oneof=0),
            _f("all", 101, f".tensorflow.serving.{policy}.ServableVersionPolicy.All", oneof=0),
            _f("specific", 102, f".tensorflow.serving.{policy}.ServableVersionPolicy.Specific", oneof=0),
        ],
        ("policy_choice",),
    )
    add(fdp, f"{policy}.ServableVersionPolicy.Latest", [_f("num_versions", 1, "uint32")])
    add(fdp, f"{policy}.ServableVersionPolicy.All", [])
    add(fdp, f"{policy}.ServableVersionPolicy.Specific", [_f("versions", 1, "int64", _REP)])
    add(
        fdp,
        "ModelConfig",
        [
            _f("name", 1, "string"),
            _f("base_path", 2, "string"),
            _f("model_type", 3, "int32"),
            _f("model_platform", 4, "string"),
            _f("model_version_policy", 7, f".tensorflow.serving.{policy}.ServableVersionPolicy"),
            _f("version_labels", 8, "map<string,int64>"),
        ],
    )
    add(fdp, "ModelConfigList", [_f("config", 1, ".tensorflow.serving.ModelConfig", _REP)])
    add(
        fdp,
        "ModelServerConfig",
        [_f("model_config_list", 1, ".tensorflow.serving.ModelConfigList", oneof=0)],
        ("config",),
    )
    wrapper = ".google.protobuf."
    add(
        fdp,
        "BatchingParameters",
        [
            _f("max_batch_size", 1, wrapper + "Int64Value"),
            _f("batch_timeout_micros", 2, wrapper + "Int64Value"),
            _f("max_enqueued_batches", 3, wrapper + "Int64Value"),
            _f("num_batch_threads", 4, wrapper + "Int64Value"),
            _f("thread_pool_name", 5, wrapper + "StringValue"),
            _f("allowed_batch_sizes", 6, "int64", _REP),
            _f("pad_variable_length_inputs", 7, "bool"),
            _f("enable_large_batch_splitting", 8, wrapper + "BoolValue"),
            _f("max_execution_batch_size", 9, wrapper + "Int64Value"),
        ],
    )


def _build() -> dict[str, Any]:
    pool = descriptor_pool.DescriptorPool()
    for module in (any_pb2, wrappers_pb2):
        pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    names_of_files = [m.DESCRIPTOR.name for m in (any_pb2, wrappers_pb2)]
    for fdp in (_framework_file(), _serving_file()):
        pool.Add(fdp)
        names_of_files.append(fdp.name)
    # every class, kept with the pool: see torchestimator.proto_classes
    classes = message_classes(pool, names_of_files)
    names = [n for n in __all__ if n[0].isupper() and n != "DATA_TYPES"]
    out: dict[str, Any] = {
        n: classes[f"tensorflow.serving.{n}"] for n in names if n not in ("AnyProto", "TensorProto")
    }
    out["TensorProto"] = classes["tensorflow.TensorProto"]
    out["AnyProto"] = classes["google.protobuf.Any"]
    out["_kept"] = (pool, classes)
    return out


_CLASSES = _build()
AnyProto = _CLASSES["AnyProto"]  # google.protobuf.Any
BatchingParameters = _CLASSES["BatchingParameters"]
ClassificationRequest = _CLASSES["ClassificationRequest"]
ClassificationResponse = _CLASSES["ClassificationResponse"]
GetModelMetadataRequest = _CLASSES["GetModelMetadataRequest"]
GetModelMetadataResponse = _CLASSES["GetModelMetadataResponse"]
GetModelStatusRequest = _CLASSES["GetModelStatusRequest"]
GetModelStatusResponse = _CLASSES["GetModelStatusResponse"]
ModelServerConfig = _CLASSES["ModelServerConfig"]
PredictRequest = _CLASSES["PredictRequest"]
PredictResponse = _CLASSES["PredictResponse"]
RegressionRequest = _CLASSES["RegressionRequest"]
RegressionResponse = _CLASSES["RegressionResponse"]
SignatureDefMap = _CLASSES["SignatureDefMap"]
TensorProto = _CLASSES["TensorProto"]
