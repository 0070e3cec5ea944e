"""Load test of ``torchestimator serve`` on 127.0.0.1, against TF's own SavedModel behind the same HTTP harness.

Trains the Titanic full-feature LinearClassifier briefly, exports it (parsing receiver), builds TF's own
SavedModel from the export with the TF bridge (in the TF venv), then, interleaved per concurrency level
(1, 8, 64 client threads, ``--duration`` seconds each), sends one-example ``:predict`` requests
(``instances: [{"b64": <tf.Example>}]``, signature ``predict``) to:

- ``serve+batching``  ``torchestimator serve --enable_batching`` (subprocess, uvicorn + batcher)
- ``serve``           ``torchestimator serve`` without batching
- ``harness/te``      scripts/serve_harness.py around ``serving.load`` (stdlib HTTP server)
- ``harness/tf``      the same harness around ``tf.saved_model.load`` (TF 2.15, ``.tfvenv``)
- ``in-process``      the bare ``serving.load`` predictor called from the client threads (no HTTP)

and prints throughput, p50 / p99 latency, errors, the ratio of each throughput to ``harness/tf``, and the
batch-size histogram of ``serve+batching`` (from its Prometheus endpoint). Every loop is bounded by
``--duration``; the servers bind 127.0.0.1 and are stopped at the end. The client threads share the
machine with the servers (all targets equally).

    .venv/bin/python scripts/bench_serve.py [--duration 30] [--concurrency 1,8,64] [--tf-python .tfvenv/bin/python]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "export"))
sys.path.insert(0, ROOT)


def _train_and_export(tmp: str) -> tuple[str, list[bytes]]:
    from export_cases import input_fn, titanic, titanic_columns, to_examples

    from torchestimator.columns import make_parse_example_spec
    from torchestimator.export import build_parsing_serving_input_receiver_fn
    from torchestimator.premade import LinearClassifier

    feats, labels = titanic()
    seed, extra = titanic_columns(feats)
    columns = seed + extra
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = LinearClassifier(columns, model_dir=os.path.join(tmp, "model"))
        est.train(input_fn(feats, labels), steps=20)
        path = est.export_saved_model(
            os.path.join(tmp, "base"),
            build_parsing_serving_input_receiver_fn(make_parse_example_spec(columns)),
        )
    return path, to_examples(feats, 256)


def _start(
    cmd: list[str], ready: Callable[[], int | None], env: dict[str, str] | None = None
) -> tuple[Any, int]:
    """Start a server process; ``ready()`` returns its port once it serves (60 s at most)."""
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[:4]} exited with {proc.returncode}")
        port = ready() if ready is not None else None
        if port:
            return proc, port
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{cmd[:4]} did not start in 120 s")


def _harness(python: str, flag: str, path: str, env: dict[str, str] | None = None) -> tuple[Any, int]:
    proc = subprocess.Popen(
        [python, os.path.join(ROOT, "scripts", "serve_harness.py"), flag, path],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"harness {flag} did not start: {line!r}")
    return proc, int(line.split()[1])


def _serve(base: str, tmp: str, batching: bool) -> tuple[Any, int]:
    port_file = os.path.join(tmp, f"ports-{batching}")
    cmd = [
        sys.executable,
        "-m",
        "torchestimator.cli",
        "serve",
        "--model_name=titanic",
        f"--model_base_path={base}",
        "--port=-1",
        "--rest_api_port=0",
        "--file_system_poll_wait_seconds=0",
        f"--port_file={port_file}",
    ]
    if batching:
        params = os.path.join(tmp, "batching.txt")
        with open(params, "w", encoding="utf-8") as fh:
            fh.write(
                "max_batch_size { value: 64 }\nbatch_timeout_micros { value: 1000 }\nnum_batch_threads { value: 2 }\n"
            )
        cmd.append(f"--batching_parameters_file={params}")

    def ready() -> int | None:
        if not os.path.exists(port_file):
            return None
        with open(port_file, encoding="utf-8") as fh:
            return int(fh.read().split()[1])

    return _start(cmd, ready)


def _http_load(port: int, bodies: list[bytes], concurrency: int, duration: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def connect() -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def worker(seed: int) -> None:
        conn = connect()
        mine: list[float] = []
        i = seed
        while time.monotonic() < deadline:
            body = bodies[i % len(bodies)]
            i += 1
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/v1/models/titanic:predict", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = connect()
            if ok:
                mine.append(time.perf_counter() - t0)
            else:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0]


def _inprocess_load(
    predict: Callable[[bytes], Any], examples: list[bytes], concurrency: int, duration: float
) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def worker(seed: int) -> None:
        mine: list[float] = []
        i = seed
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            try:
                predict(examples[i % len(examples)])
                mine.append(time.perf_counter() - t0)
            except Exception:
                with lock:
                    errors[0] += 1
            i += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0]


def _batch_buckets(port: int) -> dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/monitoring/prometheus/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'processed_batch_size_bucket\{le="([^"]+)"\} (\S+)', text)
    }


def _histogram(before: dict[str, float], after: dict[str, float]) -> str:
    parts, previous = [], 0.0
    for le in after:
        cumulative = after[le] - before.get(le, 0.0)
        if cumulative - previous:
            parts.append(f"<={le.replace('.0', '')}: {int(cumulative - previous)}")
        previous = cumulative
    return ", ".join(parts) or "(none)"


def _check_same_outputs(ports: dict[str, int], body: bytes) -> None:
    logits = {}
    for name, port in ports.items():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/v1/models/titanic:predict", body, {"Content-Type": "application/json"})
        doc = json.loads(conn.getresponse().read())
        conn.close()
        logits[name] = np.asarray([row["logits"] for row in doc["predictions"]], dtype=np.float64)
    first = next(iter(logits.values()))
    for name, value in logits.items():
        diff = float(np.abs(value - first).max())
        if diff > 1e-5:
            raise RuntimeError(f"{name} disagrees with the others on logits by {diff}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duration", type=float, default=30.0, help="seconds per target and concurrency level"
    )
    parser.add_argument("--concurrency", default="1,8,64")
    parser.add_argument(
        "--tf-python",
        default=os.environ.get("TORCHESTIMATOR_TF_PYTHON", os.path.join(ROOT, ".tfvenv", "bin", "python")),
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    from torchestimator import serving
    from torchestimator.tf_bridge import export_tf_saved_model

    procs: list[Any] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            export_dir, examples = _train_and_export(tmp)
            base = os.path.dirname(export_dir)
            tf_dir = export_tf_saved_model(
                export_dir, os.path.join(tmp, "tf_saved_model"), tf_python=args.tf_python
            )
            bodies = [
                json.dumps(
                    {"signature_name": "predict", "instances": [{"b64": base64.b64encode(e).decode()}]}
                ).encode()
                for e in examples
            ]
            ports: dict[str, int] = {}
            for name, start in (
                ("serve+batching", lambda: _serve(base, tmp, True)),
                ("serve", lambda: _serve(base, tmp, False)),
                ("harness/te", lambda: _harness(sys.executable, "--export_dir", export_dir)),
                (
                    "harness/tf",
                    lambda: _harness(
                        args.tf_python, "--tf_saved_model", tf_dir, dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
                    ),
                ),
            ):
                proc, port = start()
                procs.append(proc)
                ports[name] = port
            _check_same_outputs(ports, bodies[0])
            predictor = serving.load(export_dir)
            sig = predictor.signatures["predict"]

            def bare(example: bytes) -> Any:
                arr = np.empty(1, dtype=object)
                arr[0] = example
                return sig(examples=arr)

            print(
                f"titanic full-feature LinearClassifier, one tf.Example per :predict request, {args.duration:g} s per cell, "
                f"{os.cpu_count()} CPUs (clients share them)"
            )
            print(
                f"{'target':<16}{'conc':>5}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'vs harness/tf':>15}"
            )
            for c in levels:
                results: dict[str, tuple[float, float, float, int]] = {}
                before = _batch_buckets(ports["serve+batching"])
                for name in [*ports, "in-process"]:
                    if name == "in-process":
                        lat, errs = _inprocess_load(bare, examples, c, args.duration)
                    else:
                        lat, errs = _http_load(ports[name], bodies, c, args.duration)
                    if name == "serve+batching":
                        hist = _histogram(before, _batch_buckets(ports[name]))
                    ms = np.asarray(lat) * 1e3 if lat else np.asarray([np.nan])
                    results[name] = (
                        len(lat) / args.duration,
                        float(np.percentile(ms, 50)),
                        float(np.percentile(ms, 99)),
                        errs,
                    )
                tf_rps = results["harness/tf"][0]
                for name, (rps, p50, p99, errs) in results.items():
                    print(
                        f"{name:<16}{c:>5}{rps:>10.1f}{p50:>9.2f}{p99:>9.2f}{errs:>8}{rps / tf_rps:>14.2f}x"
                    )
                print(f"  serve+batching batch sizes at concurrency {c}: {hist}")
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    main()
