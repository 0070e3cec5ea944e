"""Helpers the server tests import by name (a conftest module cannot be imported reliably: several exist)."""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from typing import Any

from export_cases import Case

from torchestimator.server import ModelServer

N = 8  # rows sent per request


def add_version(case: Case, base: str, version: int) -> str:
    """Copy the export into ``base/<version>`` atomically (a temp dir, then a rename), as the exporter does."""
    tmp = os.path.join(base, f"temp-{version}")
    shutil.copytree(case.export_dir, tmp)
    final = os.path.join(base, str(version))
    os.rename(tmp, final)
    return final


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
