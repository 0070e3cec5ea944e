"""A trained Titanic LinearClassifier export served by a ModelServer on 127.0.0.1 (ephemeral ports)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "export"))

from export_cases import Case, export_root, get_case  # noqa: F401  (fixtures)

for _dep in ("starlette", "uvicorn", "grpc", "prometheus_client"):
    if os.environ.get("CI"):
        __import__(_dep)  # CI installs the [test] extra: a missing one must fail, not skip
    else:
        pytest.importorskip(_dep, reason="pip install 'torchestimator[serve]'")

from torchestimator.server import ModelConfig, ModelServer, ServerOptions  # noqa: E402

N = 8  # rows sent per request


@pytest.fixture(scope="session")
def titanic(export_root: str) -> Case:  # noqa: F811
    return get_case("titanic_linear", export_root)


def add_version(case: Case, base: str, version: int) -> str:
    """Copy the export into ``base/<version>`` atomically (a temp dir, then a rename), as the exporter does."""
    tmp = os.path.join(base, f"temp-{version}")
    shutil.copytree(case.export_dir, tmp)
    final = os.path.join(base, str(version))
    os.rename(tmp, final)
    return final


@pytest.fixture(scope="module")
def server(titanic: Case, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    base = str(tmp_path_factory.mktemp("models"))
    add_version(titanic, base, 1)
    options = ServerOptions(
        port=0, rest_api_port=0, file_system_poll_wait_seconds=0.2, max_body_bytes=1 << 20
    )
    srv = ModelServer([ModelConfig("titanic", base, version_labels={"stable": 1})], options).start()
    srv.base_path = base  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def http(server: ModelServer, path: str, body: Any = None, timeout: float = 10) -> tuple[int, Any]:
    """(HTTP status, parsed JSON) of a GET (body None) or POST to the server's REST port."""
    data = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{server.rest_port}{path}", data=data, method="GET" if data is None else "POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def json_examples(case: Case, n: int = N) -> list[dict[str, Any]]:
    """The first ``n`` sample rows as TF Serving JSON examples (floats stay decimal, ints whole)."""
    rows = []
    for i in range(n):
        row = {}
        for key, values in case.sample.items():
            v = values[i]
            row[key] = v.item() if hasattr(v, "item") else v
        rows.append(row)
    return rows


@pytest.fixture(scope="session")
def iris_raw(export_root: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Case, str]:  # noqa: F811
    """The iris DNNClassifier exported with a raw receiver (one float input per feature): (case, base path)."""
    import warnings

    from torchestimator.export import build_raw_serving_input_receiver_fn

    case = get_case("iris_dnn", export_root)
    base = str(tmp_path_factory.mktemp("iris_raw"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case.est.export_saved_model(
            base, build_raw_serving_input_receiver_fn({k: v[:2] for k, v in case.feats.items()})
        )
    return case, base


@pytest.fixture(scope="module")
def two_models(
    titanic: Case, iris_raw: tuple[Case, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModelServer]:
    base = str(tmp_path_factory.mktemp("titanic2"))
    add_version(titanic, base, 5)
    configs = [ModelConfig("titanic", base), ModelConfig("iris", iris_raw[1])]
    srv = ModelServer(
        configs, ServerOptions(port=0, rest_api_port=0, file_system_poll_wait_seconds=0)
    ).start()
    yield srv
    srv.stop()
