"""serving.load on hostile exports: nothing unpickled, imported or evaluated; paths confined; hashes verified."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import re
import signal
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from export_fixture import Export

from torchestimator import serving
from torchestimator.errors import ExportError
from torchestimator.serving.show import format_export

MANIFEST = "saved_model.json"


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging (a reader of /dev/zero would never return)."""

    def expire(*_: Any) -> None:
        raise TimeoutError(f"still running after {seconds}s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def edit_manifest(export_dir: str, change: Callable[[dict[str, Any]], None]) -> None:
    path = os.path.join(export_dir, MANIFEST)
    with open(path, encoding="utf-8") as fh:
        manifest = json.load(fh)
    change(manifest)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh)


def rewrite_pt2(path: str, change: Callable[[dict[str, bytes]], None]) -> None:
    """Rewrite ``model.pt2`` member by member (kept uncompressed, as torch writes it)."""
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    change(members)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


class Touch:
    """A pickle payload: unpickling it creates ``marker`` (stands in for any code)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(self.marker),))


def _prefix(members: dict[str, bytes]) -> str:
    return next(iter(members)).split("/", 1)[0]


def pickled_weight(marker: str) -> Callable[[dict[str, bytes]], None]:
    """Store weight_0 as a torch.save-style pickle whose unpickling runs the payload."""

    def change(members: dict[str, bytes]) -> None:
        p = _prefix(members)
        config_name = f"{p}/data/weights/model_weights_config.json"
        config = json.loads(members[config_name])
        first = next(iter(config["config"].values()))
        first["use_pickle"] = True
        members[config_name] = json.dumps(config).encode()
        buffer = io.BytesIO()
        torch.save({"w": Touch(marker)}, buffer)
        members[f"{p}/data/weights/{first['path_name']}"] = buffer.getvalue()

    return change


def _check_predictions(predictor: Any, export: Export) -> None:
    out = predictor(export.features)
    np.testing.assert_allclose(out["logits"], export.reference["logits"], atol=1e-5)
    np.testing.assert_array_equal(out["class_ids"], export.reference["class_ids"])


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_genuine_export_loads_and_predicts(trained_export: Export, backend: str) -> None:
    predictor = serving.load(trained_export.export_dir, backend, custom_objects=trained_export.custom_objects)
    _check_predictions(predictor, trained_export)


def test_export_records_asset_hashes_and_leaves_no_writer_file(trained_export: Export) -> None:
    text = Path(trained_export.export_dir, MANIFEST).read_text()
    assert '"asset_sha256"' in text and '"vocabulary_sha256"' in text
    assert not any(Path(trained_export.export_dir).rglob(".writer"))


def test_pickle_payload_in_pt2_is_refused_and_never_runs(trained_export: Export, tmp_path: Path) -> None:
    export_dir = trained_export.copy(str(tmp_path))
    marker = tmp_path / "payload-ran"
    rewrite_pt2(os.path.join(export_dir, "model.pt2"), pickled_weight(str(marker)))
    # The crafted file is a real attack: plain torch.export.load runs the payload.
    with contextlib.suppress(Exception):
        torch.export.load(os.path.join(export_dir, "model.pt2"))
    assert marker.exists()
    marker.unlink()
    with pytest.raises(ExportError, match=r"model\.pt2.*weight_0.*pickle"):
        serving.load(export_dir, backend="torch", custom_objects=trained_export.custom_objects)
    assert not marker.exists()


@pytest.mark.parametrize(
    "member",
    ["data.pkl", "data/weights/extra.pkl", "extra/notes.txt", "data/constants/custom_obj_0", "version"],
)
def test_members_the_exporter_never_writes_are_refused(
    trained_export: Export, tmp_path: Path, member: str
) -> None:
    export_dir = trained_export.copy(str(tmp_path))
    payload = pickle.dumps(Touch(str(tmp_path / "ran")))

    def add(members: dict[str, bytes]) -> None:
        members[f"{_prefix(members)}/{member}"] = payload

    rewrite_pt2(os.path.join(export_dir, "model.pt2"), add)
    with pytest.raises(ExportError, match=member.replace(".", r"\.")):
        serving.load(export_dir, backend="torch", custom_objects=trained_export.custom_objects)
    assert not (tmp_path / "ran").exists()


def _edit_graph(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, bytes]], None]:
    def edit(members: dict[str, bytes]) -> None:
        name = f"{_prefix(members)}/models/model.json"
        graph = json.loads(members[name])
        change(graph)
        members[name] = json.dumps(graph).encode()

    return edit


def _first_node(graph: dict[str, Any]) -> dict[str, Any]:
    return graph["graph_module"]["graph"]["nodes"][0]  # type: ignore[no-any-return]


def _first_expr(graph: dict[str, Any]) -> dict[str, Any]:
    values = graph["graph_module"]["graph"]["sym_int_values"]
    return next(iter(values.values()))["as_expr"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda g: _first_node(g).update(target="torch.os.system"), "torch.os.system"),
        (
            lambda g: _first_expr(g).update(expr_str="__import__('pathlib').Path('{m}').touch()"),
            "shape expression",
        ),
        (lambda g: _first_expr(g).update(expr_str="Symbol(open('{m}', 'w'))"), "shape expression"),
        (lambda g: g.update(guards_code=["__import__('pathlib').Path('{m}').touch()"]), "guard code"),
        (lambda g: g["graph_module"]["graph"]["nodes"][0].update(name='x"); open("{m}", "w'), "not a dotted"),
    ],
    ids=["os-target", "sympify-import", "sympify-open", "guards-exec", "codegen-name"],
)
def test_code_in_pt2_json_is_refused(
    trained_export: Export, tmp_path: Path, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    export_dir = trained_export.copy(str(tmp_path))
    marker = str(tmp_path / "ran")

    def patched(graph: dict[str, Any]) -> None:
        change(graph)
        text = json.dumps(graph).replace("{m}", marker)
        graph.clear()
        graph.update(json.loads(text))

    rewrite_pt2(os.path.join(export_dir, "model.pt2"), _edit_graph(patched))
    with pytest.raises(ExportError, match=message):
        serving.load(export_dir, backend="torch", custom_objects=trained_export.custom_objects)
    assert not os.path.exists(marker)


def test_compressed_pt2_member_is_refused(trained_export: Export, tmp_path: Path) -> None:
    export_dir = trained_export.copy(str(tmp_path))
    path = os.path.join(export_dir, "model.pt2")
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ExportError, match="compressed"):
        serving.load(export_dir, backend="torch", custom_objects=trained_export.custom_objects)


def _crossed_input(manifest: dict[str, Any], graph: str) -> dict[str, Any]:
    return next(
        i for i in manifest[graph]["inputs"] if i["kind"] == "ids" and i["column"]["type"] == "CrossedColumn"
    )


@pytest.mark.parametrize("graph", ["onnx", "torch"])
def test_manifest_naming_os_system_is_refused(
    trained_export: Export, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, graph: str
) -> None:
    export_dir = trained_export.copy(str(tmp_path))
    (tmp_path / "evil_module_te.py").write_text(
        f"open({str(tmp_path / 'imported')!r}, 'w').close()\ndef run(x): return x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    calls: list[Any] = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))

    def rename(manifest: dict[str, Any], name: str) -> None:
        text = json.dumps(_crossed_input(manifest, graph)["column"]).replace("export_fixture:halve", name)
        _crossed_input(manifest, graph)["column"] = json.loads(text)

    backend = "onnxruntime" if graph == "onnx" else "torch"
    original = Path(export_dir, MANIFEST).read_text()
    for name in ("os:system", "evil_module_te:run"):
        Path(export_dir, MANIFEST).write_text(original)
        edit_manifest(export_dir, lambda m, name=name: rename(m, name))
        with pytest.raises(ExportError, match=rf"{name}.*custom_objects="):
            serving.load(export_dir, backend)  # the genuine halve is not supplied either
        with pytest.raises(ExportError, match=name):  # a custom_objects entry for another name does not help
            serving.load(export_dir, backend, custom_objects={"other": print})
    assert calls == [] and "evil_module_te" not in sys.modules and not (tmp_path / "imported").exists()
    # the caller supplying the callable by name is how it resolves
    serving.load(export_dir, backend, custom_objects={"run": trained_export.custom_objects["halve"]})


def test_missing_custom_object_names_the_function(trained_export: Export) -> None:
    with pytest.raises(ExportError, match=r"export_fixture:halve.*custom_objects=\{'halve': fn\}"):
        serving.load(trained_export.export_dir, "torch")


def _set_model_file(name: str) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        manifest["onnx"]["file"] = name
        manifest["torch"]["file"] = name

    return change


def _set_vocab_file(name: str) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        for graph in ("onnx", "torch"):
            for item in manifest[graph]["inputs"]:
                if item["column"] and item["column"]["type"] == "VocabularyFileCategoricalColumn":
                    item["column"]["config"]["vocabulary_file"] = name

    return change


OUTSIDE = ["../../../../etc/passwd", "/etc/passwd", "/dev/zero", "../model.pt2", "assets", "nope.onnx", ""]


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
@pytest.mark.parametrize("name", OUTSIDE)
def test_model_file_outside_the_export_is_refused(
    trained_export: Export, tmp_path: Path, name: str, backend: str
) -> None:
    export_dir = trained_export.copy(str(tmp_path))
    edit_manifest(export_dir, _set_model_file(name))
    with deadline(30), pytest.raises(ExportError, match=rf"model file.*{re.escape(repr(name))}"):
        serving.load(export_dir, backend, custom_objects=trained_export.custom_objects)


@pytest.mark.parametrize("name", OUTSIDE)
def test_vocabulary_file_outside_the_export_is_refused(
    trained_export: Export, tmp_path: Path, name: str
) -> None:
    export_dir = trained_export.copy(str(tmp_path))
    edit_manifest(export_dir, _set_vocab_file(name))
    with deadline(30), pytest.raises(ExportError, match=rf"vocabulary file.*{re.escape(repr(name))}"):
        serving.load(export_dir, "torch", custom_objects=trained_export.custom_objects)


@pytest.mark.parametrize("kind", ["model", "vocabulary", "manifest"])
def test_symlink_escaping_the_export_is_refused(trained_export: Export, tmp_path: Path, kind: str) -> None:
    export_dir = trained_export.copy(str(tmp_path))
    outside = tmp_path / "outside.bin"
    if kind == "model":
        target = os.path.join(export_dir, "model.pt2")
    elif kind == "vocabulary":
        target = next(str(p) for p in Path(export_dir, "assets").iterdir() if p.name.endswith("colors.txt"))
    else:
        target = os.path.join(export_dir, MANIFEST)
    os.replace(target, outside)
    os.symlink(outside, target)
    with pytest.raises(ExportError, match="outside its folder"):
        serving.load(export_dir, "torch", custom_objects=trained_export.custom_objects)


@pytest.mark.parametrize("special", ["symlink-to-dev-zero", "fifo"])
def test_special_files_inside_the_export_are_refused_without_hanging(
    trained_export: Export, tmp_path: Path, special: str
) -> None:
    export_dir = trained_export.copy(str(tmp_path))
    target = os.path.join(export_dir, "model.onnx")
    os.remove(target)
    if special == "fifo":
        os.mkfifo(target)  # opening a FIFO for reading blocks until a writer comes
    else:
        os.symlink("/dev/zero", target)
    with deadline(30), pytest.raises(ExportError, match=r"model file 'model\.onnx'"):
        serving.load(export_dir, "onnxruntime", custom_objects=trained_export.custom_objects)


def test_modified_vocabulary_file_is_refused(trained_export: Export, tmp_path: Path) -> None:
    export_dir = trained_export.copy(str(tmp_path))
    vocab = next(p for p in Path(export_dir, "assets").iterdir() if p.name.endswith("colors.txt"))
    vocab.write_text("red\nblue\ngreen\n")  # same words, ids swapped: predictions would silently change
    with pytest.raises(ExportError, match=rf"{vocab.name}.*changed since"):
        serving.load(export_dir, "torch", custom_objects=trained_export.custom_objects)


def test_modified_vocabulary_is_refused_without_file_hash(trained_export: Export, tmp_path: Path) -> None:
    """Exports written before asset_sha256 still have vocabulary_sha256 (the lines in use) checked."""
    export_dir = trained_export.copy(str(tmp_path))

    def drop(manifest: dict[str, Any]) -> None:
        for graph in ("onnx", "torch"):
            for item in manifest[graph]["inputs"]:
                if item["column"]:
                    item["column"].pop("asset_sha256", None)

    edit_manifest(export_dir, drop)
    vocab = next(p for p in Path(export_dir, "assets").iterdir() if p.name.endswith("colors.txt"))
    vocab.write_text("red\nblue\ngreen\n")
    with pytest.raises(ExportError, match="lines is"):
        serving.load(export_dir, "torch", custom_objects=trained_export.custom_objects)


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.pop("signatures"),
        lambda m: m.update(format="torchestimator.export/0"),
        lambda m: m["torch"].update(inputs="x"),
        lambda m: m["signatures"]["predict"]["outputs"]["logits"].update(source="nope"),
        lambda m: m["parse_spec"]["x"].update(shape=[10**12]),
    ],
)
def test_damaged_manifest_is_an_export_error(trained_export: Export, tmp_path: Path, change: Any) -> None:
    export_dir = trained_export.copy(str(tmp_path))
    edit_manifest(export_dir, change)
    with pytest.raises(ExportError, match=MANIFEST):
        serving.load(export_dir, "torch", custom_objects=trained_export.custom_objects)
    with pytest.raises(ExportError):
        format_export(export_dir)


@pytest.mark.parametrize("name", [*OUTSIDE, "link", "changed"])
def test_tf_bridge_confines_and_verifies_vocabulary_assets(
    trained_export: Export, tmp_path: Path, name: str
) -> None:
    """The TF bridge (standalone, runs in the TF venv) applies the same policy to vocabulary assets."""
    from torchestimator.tf_bridge.build import BridgeError, export_asset

    export_dir = trained_export.copy(str(tmp_path))
    columns = json.loads(Path(export_dir, "assets", "columns.json").read_text())
    spec = next(
        c for layer in columns for c in layer["columns"] if c["type"] == "VocabularyFileCategoricalColumn"
    )
    real = spec["config"]["vocabulary_file"]
    assert export_asset(export_dir, real, spec["asset_sha256"]) == os.path.realpath(
        os.path.join(export_dir, real)
    )
    if name == "link":
        os.symlink(tmp_path / "outside.txt", os.path.join(export_dir, "assets", "link"))
        (tmp_path / "outside.txt").write_text("x\n")
        name = "assets/link"
    elif name == "changed":
        Path(export_dir, real).write_text("blue\nred\ngreen\n")
        name = real
    with deadline(30), pytest.raises(BridgeError, match="asset"):
        export_asset(export_dir, name, spec["asset_sha256"])


def test_treespec_naming_a_module_is_refused_and_never_imported(
    trained_export: Export, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch imports a defaultdict factory's module named in a treespec: a planted module would run."""
    export_dir = trained_export.copy(str(tmp_path))
    marker = tmp_path / "imported"
    (tmp_path / "planted_factory_te.py").write_text(f"open({str(marker)!r}, 'w').close()\nfactory = list\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = [
        1,
        {
            "type": "collections.defaultdict",
            "context": {
                "default_factory_module": "planted_factory_te",
                "default_factory_name": "factory",
                "dict_context": [],
            },
            "children_spec": [],
        },
    ]

    def plant(graph: dict[str, Any]) -> None:
        graph["graph_module"]["module_call_graph"][0]["signature"]["in_spec"] = json.dumps(spec)

    rewrite_pt2(os.path.join(export_dir, "model.pt2"), _edit_graph(plant))
    with contextlib.suppress(Exception):  # the attack is real: plain torch imports the module
        torch.export.load(os.path.join(export_dir, "model.pt2"))
    assert marker.exists()
    marker.unlink()
    sys.modules.pop("planted_factory_te", None)
    with pytest.raises(ExportError, match="in_spec"):
        serving.load(export_dir, backend="torch", custom_objects=trained_export.custom_objects)
    assert not marker.exists() and "planted_factory_te" not in sys.modules


def test_onnx_external_data_is_refused(trained_export: Export, tmp_path: Path) -> None:
    """An ONNX initializer stored in an external file names a path: ONNX Runtime would read it."""
    import onnx

    export_dir = trained_export.copy(str(tmp_path))
    (tmp_path / "outside.bin").write_bytes(b"\0" * 16)
    path = os.path.join(export_dir, "model.onnx")
    model = onnx.load(path)
    tensor = onnx.helper.make_tensor("planted", onnx.TensorProto.FLOAT, [4], [0.0] * 4)
    tensor.ClearField("float_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", "../outside.bin"), ("offset", "0"), ("length", "16")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    model.graph.initializer.append(tensor)
    onnx.save(model, path)
    with pytest.raises(ExportError, match=r"model\.onnx.*external data.*planted"):
        serving.load(export_dir, "onnxruntime", custom_objects=trained_export.custom_objects)
