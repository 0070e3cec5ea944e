"""Prometheus metrics at ``/monitoring/prometheus/metrics``: request counts, latency, batch sizes.

Names follow TF Serving's (``:tensorflow:serving:request_count``, ``...:request_latency`` in microseconds,
``...:batching_session:processed_batch_size``); ``prometheus_client`` appends ``_total`` to counters and
``_bucket`` / ``_sum`` / ``_count`` to histograms. Each server has its own registry.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServerMetrics"]

_LATENCY_BUCKETS_US = (50, 100, 250, 500, 1e3, 2.5e3, 5e3, 1e4, 2.5e4, 5e4, 1e5, 2.5e5, 5e5, 1e6, 5e6)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as err:  # pragma: no cover - the [serve] extra installs it
        raise ImportError(
            "torchestimator serve needs prometheus_client: pip install 'torchestimator[serve]'"
        ) from err
    return prometheus_client


class ServerMetrics:
    """The server's counters and histograms (thread-safe; one registry per server)."""

    def __init__(self) -> None:
        prom = _prometheus()
        self._prom = prom
        self.registry = prom.CollectorRegistry()
        self.requests = prom.Counter(
            ":tensorflow:serving:request_count",
            "Total number of requests, by model, API, entrypoint and status.",
            ["model_name", "API", "entrypoint", "status"],
            registry=self.registry,
        )
        self.latency = prom.Histogram(
            ":tensorflow:serving:request_latency",
            "Request latency in microseconds, by model, API and entrypoint.",
            ["model_name", "API", "entrypoint"],
            buckets=_LATENCY_BUCKETS_US,
            registry=self.registry,
        )
        self.batch_size = prom.Histogram(
            ":tensorflow:serving:batching_session:processed_batch_size",
            "Rows per predictor call (1 row per call without batching).",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )

    def record(self, model: str, api: str, entrypoint: str, status: str, seconds: float) -> None:
        """Count one request; its latency is recorded for successful ones, as TF Serving does."""
        self.requests.labels(model, api, entrypoint, status).inc()
        if status == "OK":
            self.latency.labels(model, api, entrypoint).observe(seconds * 1e6)

    def observe_batch(self, rows: int) -> None:
        """Record one predictor call of ``rows`` rows."""
        self.batch_size.observe(rows)

    def batch_histogram(self) -> dict[str, int]:
        """``{upper bound: calls}`` (non-cumulative) of the batch-size histogram."""
        counts: dict[str, int] = {}
        previous = 0.0
        for metric in self.batch_size.collect():
            for sample in metric.samples:
                if sample.name.endswith("_bucket"):
                    value = sample.value - previous
                    previous = sample.value
                    if value:
                        counts[sample.labels["le"]] = int(value)
        return counts

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        return self._prom.generate_latest(self.registry), self._prom.CONTENT_TYPE_LATEST
