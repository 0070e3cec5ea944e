"""`torchestimator serve` with TF Serving's flags: batching through the real server, graceful SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from server_support import N, add_version, http, json_examples


class _Ports:
    def __init__(self, rest: int) -> None:
        self.rest_port = rest


def test_serve_command_batches_and_stops_on_sigterm(titanic, tmp_path):
    base = tmp_path / "models"
    base.mkdir()
    add_version(titanic, str(base), 3)
    params = tmp_path / "batching.txt"
    params.write_text(
        "max_batch_size { value: 64 }\nbatch_timeout_micros { value: 100000 }\nnum_batch_threads { value: 1 }\n"
    )
    port_file = tmp_path / "ports"
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "torchestimator.cli",
            "serve",
            "--model_name=titanic",
            f"--model_base_path={base}",
            "--port=0",
            "--rest_api_port=0",
            "--enable_batching",
            f"--batching_parameters_file={params}",
            f"--port_file={port_file}",
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert port_file.exists(), (
            proc.communicate(timeout=5)[0][-2000:] if proc.poll() is not None else "no port file"
        )
        grpc_port, rest_port = map(int, port_file.read_text().split())
        assert grpc_port > 0 and rest_port > 0
        server = _Ports(rest_port)
        rows = json_examples(titanic)
        with ThreadPoolExecutor(N) as pool:
            results = list(
                pool.map(lambda r: http(server, "/v1/models/titanic:classify", {"examples": [r]}), rows)
            )
        assert [code for code, _ in results] == [200] * N
        scores = [[s for _, s in doc["result"][0]] for _, doc in results]
        np.testing.assert_allclose(scores, titanic.reference["probabilities"][:N], atol=1e-5)
        with urllib.request.urlopen(
            f"http://127.0.0.1:{rest_port}/monitoring/prometheus/metrics", timeout=10
        ) as r:
            text = r.read().decode()
        calls = float(re.search(r"processed_batch_size_count (\S+)", text).group(1))
        rows_run = float(re.search(r"processed_batch_size_sum (\S+)", text).group(1))
        assert rows_run == N and calls < N  # concurrent requests were merged
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out[-2000:]
        assert "Shutting down" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_serve_command_reports_bad_flags(capsys):
    from torchestimator.cli import main

    assert main(["serve", "--port=0", "--rest_api_port=0"]) == 2
    assert "--model_base_path" in capsys.readouterr().err
