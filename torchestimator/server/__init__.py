"""``torchestimator serve``: a model server that TF Serving's clients talk to unchanged.

TF Serving's REST API (``/v1/models/<name>[...]:predict|:classify|:regress``, status, metadata) and gRPC
``PredictionService`` / ``ModelService`` over exports loaded with :func:`torchestimator.serving.load`;
numeric versions under a base path, hot loading of new versions, dynamic batching, Prometheus metrics.
Needs the ``[serve]`` extra (starlette, uvicorn, grpcio, prometheus_client). See docs/serving.md.
"""

from __future__ import annotations

from torchestimator.server._batcher import BatchingOptions
from torchestimator.server._config import parse_batching_parameters, parse_model_config
from torchestimator.server._model_registry import ModelConfig, ModelRegistry
from torchestimator.server._server import ModelServer, ServerOptions

__all__ = [
    "BatchingOptions",
    "ModelConfig",
    "ModelRegistry",
    "ModelServer",
    "ServerOptions",
    "parse_batching_parameters",
    "parse_model_config",
]
