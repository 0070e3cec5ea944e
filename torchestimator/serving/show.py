"""``show``: print an export's signatures like ``saved_model_cli show --dir <dir> --all``."""

from __future__ import annotations

from typing import Any

__all__ = ["format_export", "show"]


def _tensor_line(key: str, info: dict[str, Any], indent: str) -> list[str]:
    shape = ", ".join(str(s) for s in info["shape"])
    name = info.get("source", key)
    return [
        f"{indent}outputs['{key}'] tensor_info:"
        if "source" in info
        else f"{indent}inputs['{key}'] tensor_info:",
        f"{indent}    dtype: {info['dtype']}",
        f"{indent}    shape: ({shape})",
        f"{indent}    name: {name}",
    ]


def format_export(export_dir: str) -> str:
    """The ``show --all`` text of an export directory.

    Raises:
        ExportError: ``export_dir`` has no ``saved_model.json``, or it is damaged (see
            :func:`~torchestimator.serving.manifest.read_manifest`).
    """
    from torchestimator.serving.manifest import read_manifest

    manifest = read_manifest(export_dir)
    lines = [
        f"MetaGraphDef with tag-set: '{','.join(manifest.get('tags', ['serve']))}' contains the following "
        "SignatureDefs:",
        "",
    ]
    for name in sorted(manifest["signatures"]):
        sig = manifest["signatures"][name]
        lines += [
            f"signature_def['{name}']:",
            "  The given SavedModel SignatureDef contains the following input(s):",
        ]
        for key, info in sig["inputs"].items():
            lines += _tensor_line(key, info, "    ")
        lines.append("  The given SavedModel SignatureDef contains the following output(s):")
        for key, info in sig["outputs"].items():
            lines += _tensor_line(key, info, "    ")
        lines += [f"  Method name is: {sig['method_name']}", ""]
    graph_name, graph = (
        ("model.onnx", manifest["onnx"]) if manifest.get("onnx") else ("model.pt2", manifest["torch"])
    )
    graph_inputs = ", ".join(f"{i['name']}:{i['dtype']}" for i in graph["inputs"])
    lines.append(f"{graph_name} inputs: {graph_inputs}")
    host = [str(i["name"]) for i in graph["inputs"] if i["kind"] == "ids"]
    lines.append(f"host step (hashing / crossing before {graph_name}): {', '.join(host) if host else 'none'}")
    lines.append(f"global_step: {manifest['global_step']}")
    return "\n".join(lines)


def show(export_dir: str) -> int:
    """Print :func:`format_export`; returns the exit status."""
    print(format_export(export_dir))
    return 0
