"""``torchestimator serve``: TF Serving's ``tensorflow_model_server`` command line.

Flag names are TF Serving's: ``--port`` is **gRPC** (default 8500) and ``--rest_api_port`` is REST (default
8501; TF Serving's own default 0 disables REST, here it is on). ``--rest_api_host`` / ``--grpc_host``-style
binding is one ``--host`` (default ``127.0.0.1``: local only). SIGTERM or SIGINT stops accepting requests,
lets in-flight ones finish and exits 0.

    torchestimator serve --model_name=titanic --model_base_path=/exports/titanic --port=8500 --rest_api_port=8501
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from torchestimator.errors import InvalidArgumentError, TorchEstimatorError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """TF Serving's flags (the subset this server implements)."""
    add = parser.add_argument
    add("--model_name", default="default", help="name of the model (with --model_base_path)")
    add("--model_base_path", default="", help="directory holding numeric version sub-directories")
    add("--model_config_file", default="", help="ModelServerConfig text proto listing several models")
    add("--port", type=int, default=8500, help="gRPC port (TF Serving's --port); 0 = any free port, -1 = off")
    add("--rest_api_port", type=int, default=8501, help="REST port; 0 = any free port, -1 = off")
    add("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 serves a network)")
    add("--enable_batching", action="store_true", help="merge concurrent requests into one predictor call")
    add("--batching_parameters_file", default="", help="BatchingParameters text proto")
    add(
        "--file_system_poll_wait_seconds",
        type=float,
        default=1.0,
        help="seconds between version scans (0: once)",
    )
    add(
        "--rest_api_num_threads",
        type=int,
        default=0,
        help="threads running unbatched requests (default: the CPU count)",
    )
    add(
        "--backend",
        default=None,
        choices=["onnxruntime", "torch"],
        help="serving.load backend (default: ONNX Runtime when an export has model.onnx, else torch)",
    )
    add(
        "--onnx_providers",
        default="",
        help="comma-separated ONNX Runtime execution providers in priority order "
        "(e.g. CUDAExecutionProvider,CPUExecutionProvider; default CPU)",
    )
    add("--max_body_bytes", type=int, default=64 << 20, help="largest REST request body (413 above it)")
    add("--port_file", default="", help="write 'grpc_port rest_port' here once serving (for ephemeral ports)")


def _configs(args: argparse.Namespace) -> list:
    from torchestimator.server._config import read_model_config
    from torchestimator.server._model_registry import ModelConfig

    if args.model_config_file and args.model_base_path:
        raise InvalidArgumentError("Give --model_config_file or --model_base_path, not both.")
    if args.model_config_file:
        return read_model_config(args.model_config_file)
    if not args.model_base_path:
        raise InvalidArgumentError("Give --model_base_path=<export_dir_base> (or --model_config_file).")
    return [ModelConfig(args.model_name, os.path.abspath(args.model_base_path))]


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM / SIGINT; returns the exit status."""
    from torchestimator.server._batcher import BatchingOptions
    from torchestimator.server._config import read_batching_parameters
    from torchestimator.server._server import ModelServer, ServerOptions

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        batching = (
            read_batching_parameters(args.batching_parameters_file)
            if args.batching_parameters_file
            else BatchingOptions()
        )
        options = ServerOptions(
            host=args.host,
            port=args.port,
            rest_api_port=args.rest_api_port,
            file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
            enable_batching=args.enable_batching or bool(args.batching_parameters_file),
            batching=batching,
            num_threads=args.rest_api_num_threads,
            backend=args.backend,
            onnx_providers=tuple(p for p in args.onnx_providers.split(",") if p) or None,
            max_body_bytes=args.max_body_bytes,
        )
        server = ModelServer(_configs(args), options)
    except (TorchEstimatorError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(f"{server.grpc_port or -1} {server.rest_port or -1}\n")
        os.replace(tmp, args.port_file)
    stop.wait()
    logging.getLogger("torchestimator.server").info("Shutting down: finishing in-flight requests")
    server.stop()
    return 0
