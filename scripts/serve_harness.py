"""A minimal HTTP harness for scripts/bench_serve.py: TF Serving's ``:predict`` row format over one model.

Standalone (stdlib + the model's runtime), so the same harness runs TensorFlow's own SavedModel in the TF
venv and a ``serving.load`` predictor in the torch venv:

    .tfvenv/bin/python scripts/serve_harness.py --tf_saved_model DIR      # tf.saved_model.load
    .venv/bin/python   scripts/serve_harness.py --export_dir DIR          # torchestimator.serving.load

``POST /v1/models/<any>:predict`` with ``{"signature_name": ..., "instances": [{"b64": ...}, ...]}`` answers
``{"predictions": [...]}`` (one object per row); binds 127.0.0.1 on an ephemeral port and prints
``PORT <n>``; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _tf_model(path: str) -> Any:
    import tensorflow as tf

    loaded = tf.saved_model.load(path)

    def run(signature: str, records: list[bytes]) -> dict[str, Any]:
        out = loaded.signatures[signature](**{_input_key(signature): tf.constant(records)})
        return {k: v.numpy() for k, v in out.items()}

    def _input_key(signature: str) -> str:
        return next(iter(loaded.signatures[signature].structured_input_signature[1]))

    return run


def _te_model(path: str) -> Any:
    import numpy as np

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from torchestimator import serving

    predictor = serving.load(path)

    def run(signature: str, records: list[bytes]) -> dict[str, Any]:
        sig = predictor.signatures[signature]
        arr = np.empty(len(records), dtype=object)
        arr[:] = records
        return sig(**{next(iter(sig.inputs)): arr})

    return run


def _cell(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--tf_saved_model")
    group.add_argument("--export_dir")
    args = parser.parse_args()
    run = _tf_model(args.tf_saved_model) if args.tf_saved_model else _te_model(args.export_dir)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the clients reuse connections
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def log_message(self, *a: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            try:
                doc = json.loads(body)
                records = [base64.b64decode(i["b64"]) for i in doc["instances"]]
                out = run(doc.get("signature_name") or "serving_default", records)
                rows = [
                    {k: [_cell(x) for x in v[i].reshape(-1).tolist()] for k, v in out.items()}
                    for i in range(len(records))
                ]
                payload, code = json.dumps({"predictions": rows}).encode(), 200
            except Exception as err:  # the harness reports, it never dies on a request
                payload, code = json.dumps({"error": f"{type(err).__name__}: {err}"}).encode(), 400
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    ThreadingHTTPServer.request_queue_size = 256  # 64 clients connect at once
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
