"""A trained Titanic LinearClassifier export served by a ModelServer on 127.0.0.1 (ephemeral ports)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "export"))
sys.path.insert(0, os.path.dirname(__file__))

from export_cases import Case, export_root, get_case  # noqa: F401  (fixtures)

for _dep in ("starlette", "uvicorn", "grpc", "prometheus_client"):
    if os.environ.get("CI"):
        __import__(_dep)  # CI installs the [test] extra: a missing one must fail, not skip
    else:
        pytest.importorskip(_dep, reason="pip install 'torchestimator[serve]'")

from server_support import N, add_version, http, json_examples  # noqa: E402,F401

from torchestimator.server import ModelConfig, ModelServer, ServerOptions  # noqa: E402


@pytest.fixture(scope="session")
def titanic(export_root: str) -> Case:  # noqa: F811
    return get_case("titanic_linear", export_root)


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
