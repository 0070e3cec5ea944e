"""TF Serving's REST API as an ASGI app (Starlette), over :class:`~._service.PredictionService`.

==================================================================================  =====================
``POST /v1/models/<name>[/versions/<v>|/labels/<l>]:predict|:classify|:regress``     inference
``GET  /v1/models/<name>[/versions/<v>|/labels/<l>]``                                 ``GetModelStatus``
``GET  /v1/models/<name>[/versions/<v>|/labels/<l>]/metadata``                        ``GetModelMetadata``
``GET  /monitoring/prometheus/metrics``                                               Prometheus text
``GET  /healthz``                                                                     200 once every model
                                                                                      has a version, else 503
==================================================================================  =====================

Paths are matched with TF Serving's own regular expressions (case-insensitive); errors are
``{"error": "<message>"}`` with TF Serving's HTTP code for the status. A body over ``max_body_bytes`` is
refused with 413 before it is read in full (TF Serving has no such limit; a server on a network needs one).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from torchestimator.server._json import (
    dumps_classification,
    dumps_regression,
    dumps_tensors,
    examples_from_json,
    loads_request,
    tensors_from_json,
)
from torchestimator.server._service import ModelSpec, PredictionService, signature_def_json
from torchestimator.server._status import ServingError, status_from_exception

__all__ = ["make_rest_app"]

_PREDICTION = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)", re.I
)
_STATUS = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?", re.I
)
_API = {"predict": "Predict", "classify": "Classify", "regress": "Regress"}


def _starlette() -> Any:
    try:
        import starlette.applications
        import starlette.responses
        import starlette.routing
    except ImportError as err:
        raise ImportError(
            "torchestimator serve needs starlette and uvicorn: pip install 'torchestimator[serve]'"
        ) from err
    import starlette

    return starlette


def _json_response(body: str, status: int = 200) -> Any:
    from starlette.responses import Response

    return Response(body, status_code=status, media_type="application/json")


def _error(err: ServingError) -> Any:
    return _json_response('{ "error": ' + json.dumps(err.message) + " }", err.http_status)


_DRAIN_BYTES = 256 << 20  # an oversized body up to this is read and dropped, so the client sees the 413


async def _read_body(request: Any, limit: int) -> bytes:
    """The body, at most ``limit`` bytes; RESOURCE_EXHAUSTED past it (the rest is drained, not stored)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > limit + _DRAIN_BYTES:
            break  # give up draining: the connection closes after the 413
    if size > limit:
        raise ServingError("RESOURCE_EXHAUSTED", f"Request body exceeds the limit of {limit} bytes.")
    return b"".join(chunks)


class _RestHandler:
    def __init__(self, service: PredictionService, metrics: Any, max_body_bytes: int) -> None:
        self.service = service
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, request: Any) -> Any:
        path, method = request.url.path, request.method
        start = time.perf_counter()
        model, api = "", ""
        try:
            if method == "POST" and (m := _PREDICTION.fullmatch(path)):
                model, api = m.group(1), _API[m.group(4).lower()]
                spec = ModelSpec(model, None if m.group(2) is None else int(m.group(2)), m.group(3))
                try:
                    body = await _read_body(request, self.max_body_bytes)
                except ServingError as err:
                    return self._finish(model, api, err, start, 413)
                response = await self._infer(spec, m.group(4).lower(), body)
            elif method == "GET" and (m := _STATUS.fullmatch(path)):
                if not m.group(1):
                    raise ServingError("INVALID_ARGUMENT", "Missing model name in request.")
                model = m.group(1)
                spec = ModelSpec(model, None if m.group(2) is None else int(m.group(2)), m.group(3))
                api = "GetModelMetadata" if m.group(4) else "GetModelStatus"
                response = self._metadata(spec) if m.group(4) else self._status(spec)
            else:
                raise ServingError("INVALID_ARGUMENT", f"Malformed request: {method} {path}")
        except Exception as err:
            return self._finish(model, api, status_from_exception(err), start)
        self.metrics.record(model, api, "REST", "OK", time.perf_counter() - start)
        return response

    def _finish(self, model: str, api: str, err: ServingError, start: float, http: int | None = None) -> Any:
        self.metrics.record(model, api, "REST", err.code, time.perf_counter() - start)
        response = _error(err)
        if http is not None:
            response.status_code = http
        return response

    async def _infer(self, spec: ModelSpec, verb: str, body: bytes) -> Any:
        doc = loads_request(body)
        spec.signature_name = doc.get("signature_name", "")
        if verb == "predict":
            dtypes = self.service.input_dtypes(spec)
            inputs, fmt = tensors_from_json(doc, dtypes)
            servable, _, future = self.service.predict_async(spec, inputs)
            try:
                outputs = await asyncio.wrap_future(future)
            finally:
                self.service.registry.release(servable)
            return _json_response(dumps_tensors(outputs, fmt))
        examples = examples_from_json(doc)
        servable, _, future = self.service.examples_async(spec, examples, verb)
        try:
            outputs = await asyncio.wrap_future(future)
        finally:
            self.service.registry.release(servable)
        if verb == "classify":
            return _json_response(dumps_classification(*self.service.classification(outputs, len(examples))))
        return _json_response(dumps_regression(self.service.regression(outputs, len(examples))))

    def _status(self, spec: ModelSpec) -> Any:
        version = spec.version
        if spec.label is not None:
            version = (
                self.service.registry.configs[spec.name].version_labels.get(spec.label)
                if (spec.name in self.service.registry.configs)
                else None
            )
            if version is None:
                raise ServingError("INVALID_ARGUMENT", f"Unrecognized servable version label: {spec.label}")
        rows = self.service.registry.status(spec.name, version)
        doc = {
            "model_version_status": [
                {
                    "version": str(v),
                    "state": state,
                    "status": {"error_code": "UNKNOWN" if error else "OK", "error_message": error},
                }
                for v, state, error in rows
            ]
        }
        return _json_response(json.dumps(doc, indent=1))

    def _metadata(self, spec: ModelSpec) -> Any:
        version, sigs = self.service.metadata(spec)
        doc = {
            "model_spec": {"name": spec.name, "signature_name": "", "version": str(version)},
            "metadata": {
                "signature_def": {"signature_def": {k: signature_def_json(v) for k, v in sigs.items()}}
            },
        }
        return _json_response(json.dumps(doc, indent=1))


def make_rest_app(service: PredictionService, metrics: Any, max_body_bytes: int = 64 << 20) -> Any:
    """The Starlette app serving TF Serving's REST API, metrics and health (see the module docstring)."""
    _starlette()
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    handler = _RestHandler(service, metrics, max_body_bytes)

    async def prometheus(request: Any) -> Any:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    async def health(request: Any) -> Any:
        ready = service.registry.ready()
        return _json_response(json.dumps({"status": "ok" if ready else "loading"}), 200 if ready else 503)

    async def v1(request: Any) -> Any:
        return await handler(request)

    async def not_found(request: Any) -> Any:
        return _json_response(json.dumps({"error": f"Not found: {request.url.path}"}), 404)

    routes = [
        Route("/monitoring/prometheus/metrics", prometheus, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
        Route("/v1/{rest:path}", v1, methods=["GET", "POST"]),
        Route("/V1/{rest:path}", v1, methods=["GET", "POST"]),
        Route("/{rest:path}", not_found, methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes)
