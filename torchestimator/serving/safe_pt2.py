"""Load an export's ``model.pt2`` without running anything the file says: no unpickling, no code from JSON.

``torch.export.load`` trusts its archive. It unpickles any weight or constant whose config says
``use_pickle``, ``custom_obj_*`` / ``opaque_obj_*`` constants and legacy ``*.pt`` members; it passes
every ``expr_str`` to ``sympy.sympify`` (which calls ``eval``); it ``exec``s ``guards_code``; it
resolves a node's ``target`` by walking attributes of ``torch`` (``torch.os.system`` resolves); and
the names it reads become identifiers in generated Python source. So before torch sees the bytes,
:func:`check_pt2_archive` inspects the archive and refuses, with an
:class:`~torchestimator.errors.ExportError` naming the file and the member, anything
``torch.export.save`` of a torchestimator export never writes::

    member                                         accepted content
    <p>/archive_format, archive_version, byteorder   short text ("pt2", ...)
    <p>/.data/version, .data/serialization_id        short text
    <p>/models/model.json                            the graph: JSON, checked below
    <p>/data/weights/model_weights_config.json       JSON; every entry use_pickle = false, path weight_<n>
    <p>/data/weights/weight_<n>                      raw tensor bytes
    <p>/data/constants/model_constants_config.json   JSON; every entry use_pickle = false, path tensor_<n>
    <p>/data/constants/tensor_<n>                    raw tensor bytes
    <p>/data/sample_inputs/model.pt                  empty (the exporter drops example inputs)

Members must be stored uncompressed (no zip bombs), unique, and the same list torch's own zip reader
sees. In ``model.json``: node targets are ``torch.ops.aten.*`` / ``torch.ops.prims.*`` overloads or a
few ``_operator`` / ``math`` / ``torch.sym_*`` functions, or ``torch.ops.higher_order.scan`` (exported
RNNs; its body is a subgraph in the same JSON, checked the same way); symbolic expressions are sympy ``srepr`` calls
from a fixed list (checked on the parsed AST, never evaluated); guards are size comparisons only;
input / output treespecs name only tuples, lists and dicts (for a ``defaultdict`` or an enum in a
treespec, torch imports a module named in the JSON); custom objects are refused; every other string is a dotted identifier, or free text without control
characters in the metadata fields (stack traces, module stacks). The file is read once and the checked
bytes are what torch loads, so it cannot change in between.
"""

from __future__ import annotations

import ast
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

from torchestimator.errors import ExportError

__all__ = ["MAX_PT2_BYTES", "check_pt2_archive", "load_pt2_module"]

MAX_PT2_BYTES = 1 << 34  # 16 GiB: far beyond any model we export; a larger file is refused unread
_MAX_JSON_DEPTH = 200
_MAX_EXPR_CHARS = 4000

_FIXED_MEMBERS = {
    "archive_format",
    "archive_version",
    "byteorder",
    ".data/version",
    ".data/serialization_id",
    "models/model.json",
    "data/weights/model_weights_config.json",
    "data/constants/model_constants_config.json",
    "data/sample_inputs/model.pt",
}
_WEIGHT = re.compile(r"data/weights/(weight_[0-9]+)")
_CONSTANT = re.compile(r"data/constants/(tensor_[0-9]+)")
_PREFIX = re.compile(r"[A-Za-z0-9_.\-]{1,200}")
_PLAIN = re.compile(r"[A-Za-z0-9_.\-]*")
_FREE_TEXT_KEYS = {"stack_trace", "nn_module_stack", "torch_fn", "torch_version"}
_TREESPEC_KEYS = {"in_spec", "out_spec"}
# pytree node types a treespec may name: torch resolves others through a registry, but a defaultdict
# context imports its factory's module and an "__enum__" context imports the enum's module
_TREESPEC_TYPES = {None, "builtins.tuple", "builtins.list", "builtins.dict", "collections.OrderedDict"}
_CONTROL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f]"
)  # \t and \n allowed (stack traces); \r is a newline to Python

_TARGET = re.compile(
    r"torch\.ops\.(aten|prims)\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+"
    # torch's own scan, which exported RNNs use; its body is a subgraph of this same JSON, checked like the rest
    r"|torch\.ops\.higher_order\.scan"
    r"|_operator\.(add|sub|mul|floordiv|truediv|mod|neg|pos|abs|getitem|eq|ne|lt|le|gt|ge|and_|or_|not_)"
    r"|math\.(ceil|floor|trunc|sqrt)"
    r"|torch\.sym_(max|min|float|int|not|ite|sum|sqrt)"
)
# sympy srepr of shape expressions: these constructors, symbol names, ints and boolean keywords only
_SYMPY_CALLS = {
    "Symbol", "Integer", "Add", "Mul", "Max", "Min", "FloorDiv", "CleanDiv", "CeilDiv", "Mod",
    "PythonMod", "ModularIndexing", "IntTrueDiv", "FloatTrueDiv", "TruncToInt", "FloorToInt",
    "CeilToInt", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "Equality", "Unequality", "StrictLessThan",
    "LessThan", "StrictGreaterThan", "GreaterThan", "And", "Or", "Not", "Identity",
}  # fmt: skip
_SYMPY_NAMES = {"true", "false", "True", "False", "oo", "zoo", "nan", "S"}
_SYMBOL = re.compile(r"[a-z]+[0-9]+")
_GUARD_ACCESS = re.compile(r"L\['[A-Za-z_][A-Za-z0-9_]*'\](\[[0-9]+\])*\.size\(\)\[[0-9]+\]")
_GUARD_REST = re.compile(r"[X0-9 ()+\-*%<>=!]*")


def _refuse(path: str, member: str, why: str) -> ExportError:
    return ExportError(
        f"{path!r} is refused: member {member!r} {why}. torchestimator loads only the .pt2 archives its "
        "exporter writes, and never unpickles or evaluates their content; re-export the model with "
        "torchestimator, or load the ONNX backend."
    )


def _members(data: bytes, path: str) -> dict[str, zipfile.ZipInfo]:
    """The archive's members by name (prefix stripped), after the container-level checks."""
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        raise ExportError(f"{path!r} is not a .pt2 archive (a zip file): {exc}.") from exc
    names = [i.filename for i in infos]
    if not names or len(set(names)) != len(names):
        raise _refuse(path, "(archive)", "is empty or lists a member twice")
    prefix = names[0].split("/", 1)[0]
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        head, _, rest = info.filename.partition("/")
        if head != prefix or not _PREFIX.fullmatch(head) or not rest:
            raise _refuse(path, info.filename, "is outside the archive's single top folder")
        if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
            raise _refuse(
                path, info.filename, "is compressed (torch.export.save stores members uncompressed)"
            )
        if rest not in _FIXED_MEMBERS and not (_WEIGHT.fullmatch(rest) or _CONSTANT.fullmatch(rest)):
            raise _refuse(path, info.filename, "is not a member torch.export.save writes for an export")
        members[rest] = info
    for required in ("archive_format", "models/model.json", "data/weights/model_weights_config.json"):
        if required not in members:
            raise _refuse(path, f"{prefix}/{required}", "is missing")
    _same_records_as_torch(data, path, set(names))
    return members


def _same_records_as_torch(data: bytes, path: str, names: set[str]) -> None:
    """torch's zip reader must see exactly the members we checked (no parser-differential smuggling)."""
    import torch

    try:
        reader = torch._C.PyTorchFileReader(io.BytesIO(data))
        prefix = next(iter(names)).split("/", 1)[0]
        seen = {f"{prefix}/{r}" for r in reader.get_all_records()}
    except Exception as exc:  # torch raises RuntimeError and friends for a malformed zip
        raise ExportError(f"{path!r} is not a readable .pt2 archive: {exc}.") from exc
    if seen != names:
        raise _refuse(path, sorted(seen ^ names)[0], "is seen differently by torch's zip reader")


def _read_json(data: bytes, info: zipfile.ZipInfo, path: str) -> Any:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            text = zf.read(info)
        return json.loads(text.decode("utf-8"))
    except (zipfile.BadZipFile, UnicodeDecodeError, ValueError, RecursionError, OSError) as exc:
        raise _refuse(path, info.filename, f"is not valid JSON ({type(exc).__name__})") from exc


def _check_payload_config(config: Any, kind: str, members: set[str], path: str, member: str) -> None:
    pattern = _WEIGHT if kind == "weights" else _CONSTANT
    entries = config.get("config") if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        raise _refuse(path, member, "has no 'config' mapping")
    for fqn, meta in entries.items():
        name = meta.get("path_name") if isinstance(meta, dict) else None
        if not isinstance(meta, dict) or meta.get("use_pickle") is not False:
            raise _refuse(path, member, f"stores {fqn!r} ({name!r}) as a pickle (use_pickle must be false)")
        if not isinstance(name, str) or not pattern.fullmatch(f"data/{kind}/{name}"):
            raise _refuse(path, member, f"points {fqn!r} at {name!r}, not a raw tensor member")
        if f"data/{kind}/{name}" not in members:
            raise _refuse(path, member, f"points {fqn!r} at {name!r}, which the archive does not hold")
        if not isinstance(meta.get("tensor_meta"), dict):
            raise _refuse(path, member, f"gives {fqn!r} no tensor_meta")
        if not _PLAIN.fullmatch(str(fqn)):
            raise _refuse(path, member, f"names a tensor {str(fqn)[:80]!r} that is not a dotted identifier")


def _check_expr(expr: str) -> str | None:
    """Why a sympy ``srepr`` string is refused, or None when it only builds a shape expression."""
    if len(expr) > _MAX_EXPR_CHARS or "__" in expr:
        return "is too long or names a dunder"
    try:
        tree = ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "does not parse"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _SYMPY_CALLS:
                return f"calls {ast.dump(node.func)[:60]}"
            for kw in node.keywords:
                if not isinstance(kw.value, ast.Constant) or not isinstance(kw.value.value, bool):
                    return "passes a non-boolean keyword"
            if node.func.id == "Symbol" and not (
                node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and _SYMBOL.fullmatch(node.args[0].value)
            ):
                return "names a symbol that is not like 's0'"
        elif isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, str):
                if not _SYMBOL.fullmatch(value):
                    return f"holds the string {value[:40]!r}"
            elif not isinstance(value, (bool, int)) or (not isinstance(value, bool) and abs(value) > 1 << 63):
                return f"holds the constant {str(value)[:40]}"
        elif isinstance(node, ast.Name):
            if node.id not in _SYMPY_CALLS and node.id not in _SYMPY_NAMES and not _SYMBOL.fullmatch(node.id):
                return f"names {node.id!r}"
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            continue
        elif not isinstance(node, (ast.Expression, ast.keyword, ast.Load, ast.USub)):
            return f"uses {type(node).__name__}"
    return None


def _treespec_ok(node: Any, depth: int = 0) -> bool:
    """A treespec schema of tuples / lists / dicts with plain keys (see ``_TREESPEC_TYPES``)."""
    if depth > _MAX_JSON_DEPTH or not isinstance(node, dict):
        return False
    if set(node) != {"type", "context", "children_spec"} or node["type"] not in _TREESPEC_TYPES:
        return False
    context = node["context"]
    if context is not None:
        try:
            decoded = json.loads(context) if isinstance(context, str) else object()
        except (ValueError, RecursionError):
            return False
        if decoded is not None and not (
            isinstance(decoded, list) and all(isinstance(k, (str, int)) for k in decoded)
        ):
            return False
    children = node["children_spec"]
    return isinstance(children, list) and all(_treespec_ok(c, depth + 1) for c in children)


def _check_treespec(text: str) -> bool:
    try:
        decoded = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return (
        isinstance(decoded, list)
        and len(decoded) == 2
        and isinstance(decoded[0], int)
        and _treespec_ok(decoded[1])
    )


def _check_guard(guard: object) -> bool:
    if not isinstance(guard, str) or len(guard) > _MAX_EXPR_CHARS or "**" in guard:
        return False
    return bool(_GUARD_REST.fullmatch(_GUARD_ACCESS.sub("X", guard)))


def _check_graph(node: Any, key: str, path: str, member: str, depth: int = 0) -> None:
    """Walk ``model.json``: every string is checked by the field it sits in (see the module docstring)."""
    if depth > _MAX_JSON_DEPTH:
        raise _refuse(path, member, "is nested too deeply")
    if isinstance(node, dict):
        for k, v in node.items():
            if not _PLAIN.fullmatch(k):
                raise _refuse(path, member, f"has the key {k[:80]!r}, not a dotted identifier")
            if k in ("as_custom_obj", "custom_obj_values") and v:
                raise _refuse(path, member, "holds a custom (pickled) object")
            if k == "guards_code":
                bad = [g for g in (v if isinstance(v, list) else [v]) if not _check_guard(g)]
                if bad:
                    raise _refuse(
                        path, member, f"has guard code that is not a size comparison: {str(bad[0])[:80]!r}"
                    )
                continue
            _check_graph(v, k, path, member, depth + 1)
    elif isinstance(node, list):
        for v in node:
            _check_graph(v, key, path, member, depth + 1)
    elif isinstance(node, str):
        if key == "target":
            if not _TARGET.fullmatch(node):
                raise _refuse(path, member, f"calls {node[:80]!r}, not an aten/prims operator")
        elif key == "expr_str":
            why = _check_expr(node)
            if why is not None:
                raise _refuse(path, member, f"has a shape expression that {why}: {node[:80]!r}")
        elif key in _TREESPEC_KEYS:
            if not _check_treespec(node):
                raise _refuse(
                    path, member, f"has a {key} naming types beyond tuples, lists and dicts: {node[:80]!r}"
                )
        elif key in _FREE_TEXT_KEYS:
            if _CONTROL.search(node) or (key != "stack_trace" and "\n" in node):
                raise _refuse(path, member, f"has control characters in {key!r}")
        elif not _PLAIN.fullmatch(node):
            raise _refuse(path, member, f"has {key!r} = {node[:80]!r}, not a dotted identifier")


def check_pt2_archive(data: bytes, path: str) -> None:
    """Refuse a ``.pt2`` archive unless torch can load it without unpickling or evaluating anything.

    Args:
        data: The archive's bytes.
        path: The file's path, for error messages.

    Raises:
        ExportError: A member torchestimator's exporter never writes, a pickled payload, a compressed or
            duplicated member, or JSON that would make torch evaluate code (the error names the member).
    """
    members = _members(data, path)
    if members["archive_format"].file_size > 64:
        raise _refuse(path, members["archive_format"].filename, "is not the short 'pt2' marker")
    sample = members.get("data/sample_inputs/model.pt")
    if sample is not None and sample.file_size != 0:
        raise _refuse(path, sample.filename, "holds pickled example inputs (the exporter writes it empty)")
    names = set(members)
    for kind in ("weights", "constants"):
        info = members.get(f"data/{kind}/model_{kind}_config.json")
        if info is not None:
            config = _read_json(data, info, path)
            _check_payload_config(config, kind, names, path, info.filename)
        elif any(n.startswith(f"data/{kind}/") for n in names):
            raise _refuse(path, f"data/{kind}/", "holds tensors without a config")
    graph_info = members["models/model.json"]
    graph = _read_json(data, graph_info, path)
    if not isinstance(graph, dict):
        raise _refuse(path, graph_info.filename, "is not a JSON object")
    _check_graph(graph, "", path, graph_info.filename)


def load_pt2_module(path: Path) -> Any:
    """Read ``path`` once, check it with :func:`check_pt2_archive`, and return the program's module.

    Raises:
        ExportError: the archive is refused, cannot be read, or torch cannot rebuild the program.
    """
    import torch

    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_PT2_BYTES + 1)
    except OSError as exc:
        raise ExportError(f"{str(path)!r} cannot be read: {exc.strerror or exc}.") from exc
    if len(data) > MAX_PT2_BYTES:
        raise ExportError(f"{str(path)!r} is larger than {MAX_PT2_BYTES} bytes; refused.")
    check_pt2_archive(data, str(path))
    try:
        return torch.export.load(io.BytesIO(data)).module()
    except Exception as exc:  # torch raises many types for a program it cannot rebuild
        raise ExportError(f"torch could not load the program in {str(path)!r}: {exc}") from exc
