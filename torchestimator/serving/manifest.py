"""Read an export's ``saved_model.json`` as untrusted data: bounded, shape-checked, paths confined, hashes verified.

Everything :func:`~torchestimator.serving.load` and ``show`` take from the manifest passes through here:

- the manifest itself must be a regular file of at most :data:`MAX_MANIFEST_BYTES` inside the export
  directory, valid UTF-8 JSON, ``format`` equal to the exporter's, with every field the loaders read of
  the expected JSON type (:func:`read_manifest`);
- every file name it lists (``model.onnx``, ``model.pt2``, vocabulary assets) goes through
  :func:`~torchestimator.file_policy.resolve_inside` (:func:`export_file`);
- each vocabulary file's recorded hashes are checked before a column reads it
  (:func:`resolve_vocabularies`): ``asset_sha256`` (the copied file's bytes, written since this
  version) with :func:`~torchestimator.file_policy.verify_sha256`, and ``vocabulary_sha256`` (the
  lines in use) against the column's own reading of the file.

Every failure is an :class:`~torchestimator.errors.ExportError` naming the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torchestimator.errors import ExportError, TorchEstimatorError
from torchestimator.file_policy import resolve_inside, verify_sha256

__all__ = ["MANIFEST", "MAX_MANIFEST_BYTES", "export_file", "read_manifest", "resolve_vocabularies"]

MANIFEST = "saved_model.json"
MAX_MANIFEST_BYTES = 256 << 20  # ours are kilobytes; the cap bounds memory on a hostile file


def export_file(export_dir: str | os.PathLike[str], name: object, what: str) -> Path:
    """``export_dir/name`` after :func:`resolve_inside` (a regular file inside the export), else ExportError."""
    return resolve_inside(export_dir, name, what=what, error=ExportError)


def _expect(value: Any, kind: type | tuple[type, ...], where: str, path: Path) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ExportError(
            f"{str(path)!r}: {where} must be a JSON {' or '.join(k.__name__ for k in kinds)}; received "
            f"{type(value).__name__} ({str(value)[:60]!r}). The manifest is damaged; re-export the model."
        )
    return value


def _check_tensor_info(info: Any, where: str, path: Path) -> None:
    _expect(info, dict, where, path)
    _expect(info.get("dtype"), str, f"{where}.dtype", path)
    for i, dim in enumerate(_expect(info.get("shape"), list, f"{where}.shape", path)):
        _expect(dim, int, f"{where}.shape[{i}]", path)


def _check_graph(graph: Any, name: str, path: Path) -> None:
    _expect(graph, dict, name, path)
    _expect(graph.get("file"), str, f"{name}.file", path)
    for i, item in enumerate(_expect(graph.get("inputs"), list, f"{name}.inputs", path)):
        _expect(item, dict, f"{name}.inputs[{i}]", path)
        _expect(item.get("name"), str, f"{name}.inputs[{i}].name", path)
        _expect(item.get("kind"), str, f"{name}.inputs[{i}].kind", path)
        _expect(item.get("dtype"), str, f"{name}.inputs[{i}].dtype", path)
        _expect(item.get("column"), (dict, type(None)), f"{name}.inputs[{i}].column", path)
    for i, out in enumerate(_expect(graph.get("outputs"), list, f"{name}.outputs", path)):
        _expect(out, str, f"{name}.outputs[{i}]", path)


def _check_structure(manifest: Any, path: Path) -> None:
    """Every field a loader reads has the JSON type it expects (so no KeyError / TypeError later)."""
    from torchestimator.export.saved_model import FORMAT

    _expect(manifest, dict, "the manifest", path)
    if manifest.get("format") != FORMAT:
        raise ExportError(
            f"{str(path)!r} has format {str(manifest.get('format'))[:60]!r}; expected {FORMAT!r}."
        )
    for i, tag in enumerate(_expect(manifest.get("tags", ["serve"]), list, "tags", path)):
        _expect(tag, str, f"tags[{i}]", path)
    _expect(manifest.get("global_step"), int, "global_step", path)
    for key, spec in _expect(manifest.get("parse_spec"), dict, "parse_spec", path).items():
        _expect(spec, dict, f"parse_spec[{key!r}]", path)
        if spec.get("type") not in ("FixedLenFeature", "VarLenFeature"):
            raise ExportError(
                f"{str(path)!r}: parse_spec[{key!r}].type {str(spec.get('type'))[:40]!r} is unknown."
            )
        _expect(spec.get("dtype"), str, f"parse_spec[{key!r}].dtype", path)
        if spec["type"] == "FixedLenFeature":
            for dim in _expect(spec.get("shape"), list, f"parse_spec[{key!r}].shape", path):
                if not isinstance(dim, int) or isinstance(dim, bool) or not 0 <= dim <= 1 << 20:
                    raise ExportError(
                        f"{str(path)!r}: parse_spec[{key!r}].shape has the bad dimension {dim!r}."
                    )
    names = _expect(manifest.get("class_names"), (list, type(None)), "class_names", path)
    for i, name in enumerate(names or []):
        _expect(name, str, f"class_names[{i}]", path)
    outputs = _expect(manifest.get("outputs"), dict, "outputs", path)
    for key, info in outputs.items():
        _check_tensor_info(info, f"outputs[{key!r}]", path)
    _check_graph(manifest.get("torch"), "torch", path)
    if manifest.get("onnx") is not None:  # null: exported without the [onnx] extra (model.pt2 only)
        _check_graph(manifest.get("onnx"), "onnx", path)
    for sig_name, sig in _expect(manifest.get("signatures"), dict, "signatures", path).items():
        where = f"signatures[{sig_name!r}]"
        _expect(sig, dict, where, path)
        _expect(sig.get("method_name"), str, f"{where}.method_name", path)
        for key, info in _expect(sig.get("inputs"), dict, f"{where}.inputs", path).items():
            _check_tensor_info(info, f"{where}.inputs[{key!r}]", path)
        for key, info in _expect(sig.get("outputs"), dict, f"{where}.outputs", path).items():
            _check_tensor_info(info, f"{where}.outputs[{key!r}]", path)
            source = _expect(info.get("source"), str, f"{where}.outputs[{key!r}].source", path)
            if source not in outputs:
                raise ExportError(
                    f"{str(path)!r}: {where}.outputs[{key!r}] reads {source[:60]!r}, which the export does "
                    f"not produce ({sorted(outputs)})."
                )


def read_manifest(export_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check ``export_dir/saved_model.json`` (see the module docstring).

    Raises:
        ExportError: not an export directory; the manifest is not a regular file, too large, not JSON,
            of another format, or a field has the wrong type (the error names the field).
    """
    folder = os.fspath(export_dir)
    if not os.path.isfile(os.path.join(folder, MANIFEST)):
        raise ExportError(
            f"{folder!r} is not a torchestimator export: {os.path.join(folder, MANIFEST)!r} is missing."
        )
    path = resolve_inside(folder, MANIFEST, what="export manifest", error=ExportError)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise ExportError(f"{str(path)!r} cannot be read: {exc.strerror or exc}.") from exc
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ExportError(f"{str(path)!r} is larger than {MAX_MANIFEST_BYTES} bytes; refused.")
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ExportError(
            f"{str(path)!r} is not valid JSON ({type(exc).__name__}: {str(exc)[:100]})."
        ) from exc
    _check_structure(manifest, path)
    return manifest


def _verify_vocabulary(node: dict[str, Any], target: Path, export_dir: str) -> None:
    from torchestimator.columns.vocabulary import load_vocabulary_file

    what = f"vocabulary file {node['config']['vocabulary_file']!r} of column {node['config'].get('key')!r}"
    if "asset_sha256" in node:
        verify_sha256(target, node["asset_sha256"], what=what, error=ExportError)
    expected = node.get("vocabulary_sha256")
    if not isinstance(expected, str):
        raise ExportError(f"{what} in {export_dir!r} has no recorded vocabulary_sha256; re-export the model.")
    config = node["config"]
    size, dtype = config.get("vocabulary_size"), config.get("dtype", "string")
    if not (size is None or isinstance(size, int)) or dtype not in ("string", "int64"):
        raise ExportError(f"{what} in {export_dir!r}: bad vocabulary_size {size!r} or dtype {dtype!r}.")
    try:
        actual = load_vocabulary_file(str(target), size, dtype)[1]
    except (TorchEstimatorError, OSError, ValueError) as exc:
        raise ExportError(f"{what} in {export_dir!r} cannot be read: {exc}") from exc
    if actual != expected:
        raise ExportError(
            f"{what} ({str(target)!r}) has changed since the export was written: sha256 of its lines is "
            f"{actual}, recorded {expected}. Restore the file or re-export the model."
        )


def resolve_vocabularies(node: Any, export_dir: str, depth: int = 0) -> None:
    """Point every vocabulary-file column under ``node`` at its checked file (in place).

    Raises:
        ExportError: a path escapes the export, is not a regular file, or its content differs from the
            recorded hashes.
    """
    if depth > 100:
        raise ExportError(f"{export_dir!r}: a serialised column in {MANIFEST} is nested too deeply.")
    if isinstance(node, Mapping):
        if node.get("type") == "VocabularyFileCategoricalColumn":
            config = node.get("config")
            if not isinstance(config, dict):
                raise ExportError(f"{export_dir!r}: a vocabulary column in {MANIFEST} has no config.")
            target = export_file(export_dir, config.get("vocabulary_file"), "vocabulary file")
            _verify_vocabulary(dict(node), target, export_dir)
            config["vocabulary_file"] = str(target)
        for value in node.values():
            resolve_vocabularies(value, export_dir, depth + 1)
    elif isinstance(node, list):
        for value in node:
            resolve_vocabularies(value, export_dir, depth + 1)
