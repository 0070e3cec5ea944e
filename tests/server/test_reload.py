"""A new version written into the base path is served within seconds; no request fails during the switch."""

from __future__ import annotations

import threading
import time

from server_support import add_version, http, json_examples


def test_new_version_is_served_without_a_failed_request(server, titanic):
    body = {"examples": json_examples(titanic, 2)}
    codes: list[int] = []
    stop = threading.Event()

    def client() -> None:
        deadline = time.monotonic() + 30  # bounded even if the test body fails
        while not stop.is_set() and time.monotonic() < deadline:
            codes.append(http(server, "/v1/models/titanic:classify", body)[0])

    threads = [threading.Thread(target=client) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    before = len(codes)
    add_version(titanic, server.base_path, 2)
    start = time.monotonic()
    served = None
    while time.monotonic() - start < 15:
        status = {
            row["version"]: row["state"]
            for row in http(server, "/v1/models/titanic")[1]["model_version_status"]
        }
        if status.get("2") == "AVAILABLE" and status.get("1") == "END":
            served = time.monotonic() - start
            break
        time.sleep(0.1)
    time.sleep(0.5)  # requests keep flowing after the switch
    stop.set()
    for t in threads:
        t.join()
    assert served is not None and served < 10, status
    assert len(codes) > before + 5  # the client really looped across the switch
    assert set(codes) == {200}, sorted(set(codes))
    assert http(server, "/v1/models/titanic/metadata")[1]["model_spec"]["version"] == "2"
    assert http(server, "/v1/models/titanic/versions/1:classify", body)[0] == 404  # retired
