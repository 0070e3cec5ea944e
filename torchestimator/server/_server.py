"""``ModelServer``: the registry, the runner (batcher or thread pool), the gRPC and REST fronts, together.

Example:
    >>> options = ServerOptions(port=0, rest_api_port=0)                 # ephemeral ports
    >>> server = ModelServer([ModelConfig("titanic", "/exports/titanic")], options)  # doctest: +SKIP
    >>> server.start()                                                  # doctest: +SKIP
    >>> server.rest_port, server.grpc_port                              # doctest: +SKIP
    >>> server.stop()                                                   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
from collections.abc import Sequence
from typing import Any

from torchestimator.errors import InvalidArgumentError
from torchestimator.server._batcher import Batcher, BatchingOptions, DirectRunner
from torchestimator.server._metrics import ServerMetrics
from torchestimator.server._model_registry import ModelConfig, ModelRegistry
from torchestimator.server._service import PredictionService

__all__ = ["ModelServer", "ServerOptions"]

_LOG = logging.getLogger("torchestimator.server")


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """How the server runs (TF Serving's flag names).

    Attributes:
        host: the address both fronts bind (``127.0.0.1``: local only; ``0.0.0.0`` to serve a network).
        port: gRPC port (TF Serving's ``--port``, 8500); 0 picks a free one; -1 disables gRPC.
        rest_api_port: REST port (TF Serving's ``--rest_api_port``, 8501); 0 picks a free one; -1 disables REST.
        file_system_poll_wait_seconds: seconds between version scans; 0 scans once at start.
        enable_batching: merge concurrent requests (``batching`` parameters).
        batching: the batching parameters.
        num_threads: threads running unbatched requests (default: the CPU count; the predictor's own
            intra-op threads use the cores, more callers only oversubscribe them). gRPC's handler pool,
            whose threads mostly wait, has max(16, 4 x CPUs).
        backend: ``serving.load`` backend, ``"onnxruntime"``, ``"torch"`` or None (ONNX Runtime when the export
            has a model.onnx, else torch).
        onnx_providers: ONNX Runtime execution providers in priority order (default CPU only), e.g.
            ``("CUDAExecutionProvider", "CPUExecutionProvider")`` with onnxruntime-gpu.
        max_body_bytes: REST request bodies larger than this are refused with 413.
        grpc_max_message_bytes: largest gRPC request accepted (gRPC's default 4 MiB).
    """

    host: str = "127.0.0.1"
    port: int = 8500  # gRPC
    rest_api_port: int = 8501
    file_system_poll_wait_seconds: float = 1.0  # TF Serving's default is 1 s too
    enable_batching: bool = False
    batching: BatchingOptions = dataclasses.field(default_factory=BatchingOptions)
    num_threads: int = 0  # 0 -> os.cpu_count()
    backend: str | None = None
    onnx_providers: tuple[str, ...] | None = None
    max_body_bytes: int = 64 << 20
    grpc_max_message_bytes: int = 4 << 20

    def __post_init__(self) -> None:
        for name in ("port", "rest_api_port"):
            if not -1 <= getattr(self, name) <= 65535:
                raise InvalidArgumentError(
                    f"ServerOptions.{name} must be -1..65535; received {getattr(self, name)}."
                )
        if self.port == -1 and self.rest_api_port == -1:
            raise InvalidArgumentError("Both gRPC (port) and REST (rest_api_port) are disabled; enable one.")

    def replace(self, **changes: Any) -> ServerOptions:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


class ModelServer:
    """Serves ``configs`` over TF Serving's gRPC and REST APIs (see :class:`ServerOptions`)."""

    def __init__(self, configs: Sequence[ModelConfig], options: ServerOptions | None = None) -> None:
        self.options = options or ServerOptions()
        self.metrics = ServerMetrics()
        self.registry = ModelRegistry(
            configs,
            poll_seconds=self.options.file_system_poll_wait_seconds,
            backend=self.options.backend,
            providers=self.options.onnx_providers,
        )
        threads = self.options.num_threads or os.cpu_count() or 1
        self.runner: Any = (
            Batcher(self.options.batching) if self.options.enable_batching else DirectRunner(threads)
        )
        self.service = PredictionService(self.registry, self.runner, self.metrics.observe_batch)
        self._threads = max(16, 4 * (os.cpu_count() or 1))
        self._grpc: Any = None
        self._uvicorn: Any = None
        self._rest_thread: threading.Thread | None = None
        self.grpc_port: int | None = None
        self.rest_port: int | None = None

    def start(self) -> ModelServer:
        """Load the models, then start gRPC and REST; returns self once both accept connections."""
        self.registry.start()
        if self.options.port != -1:
            from torchestimator.server._grpc import make_grpc_server

            self._grpc, self.grpc_port = make_grpc_server(
                self.service,
                self.metrics,
                self.options.host,
                self.options.port,
                self._threads,
                self.options.grpc_max_message_bytes,
            )
            _LOG.info("Running gRPC ModelServer at %s:%d", self.options.host, self.grpc_port)
        if self.options.rest_api_port != -1:
            self._start_rest()
            _LOG.info("Exporting HTTP/REST API at %s:%d", self.options.host, self.rest_port)
        return self

    def _start_rest(self) -> None:
        try:
            import uvicorn
        except ImportError as err:
            raise ImportError(
                "torchestimator serve needs uvicorn: pip install 'torchestimator[serve]'"
            ) from err
        from torchestimator.server._rest import make_rest_app

        app = make_rest_app(self.service, self.metrics, self.options.max_body_bytes)
        family = socket.AF_INET6 if ":" in self.options.host else socket.AF_INET
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then (else each response
        # waits ~40 ms on Nagle + delayed ACK, as headers and body are written separately)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.options.host, self.options.rest_api_port))
        self.rest_port = sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=30
        )
        self._uvicorn = uvicorn.Server(config)
        started = threading.Event()

        def run() -> None:
            self._uvicorn.run(sockets=[sock])

        self._rest_thread = threading.Thread(target=run, name="te-rest", daemon=True)
        self._rest_thread.start()
        for _ in range(600):  # 30 s at most
            if self._uvicorn.started or not self._rest_thread.is_alive():
                break
            started.wait(0.05)
        if not self._uvicorn.started:
            raise OSError(f"the REST server did not start on {self.options.host}:{self.rest_port}")

    def stop(self, grace: float = 10.0) -> None:
        """Stop accepting requests, let in-flight ones finish (up to ``grace`` seconds), stop everything."""
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._grpc is not None:
            self._grpc.stop(grace).wait(grace + 1)
        if self._rest_thread is not None:
            self._rest_thread.join(grace + 1)
        self.registry.stop()
        self.runner.shutdown()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
