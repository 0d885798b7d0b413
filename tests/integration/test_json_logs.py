"""`run --log-format json`: every line is one JSON object, and events name their service."""

from __future__ import annotations

import json
import signal

import pytest
from support.procs import wait_for

pytestmark = pytest.mark.integration


def _entries(proc) -> list[dict]:
    return [json.loads(line) for line in proc.output().splitlines() if line.strip()]


def _has(proc, service: str, text: str) -> bool:
    return any(e.get("service") == service and text in e["msg"] for e in _entries(proc))


def _stop_and_check_every_line(proc) -> None:
    proc.signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    entries = _entries(proc)  # raises if any line is not JSON
    assert entries and all({"ts", "level", "priority", "logger", "msg"} <= set(e) for e in entries)


def test_nerve_json_logs(nerve, http_backend):
    backend = http_backend()
    nerve.write(nerve.service("web", backend.port))
    proc = nerve.start(args=("--log-format", "json"))
    wait_for(lambda: _has(proc, "web", "registered"), 20, message="registration logged")
    backend.healthy = False
    wait_for(lambda: _has(proc, "web", "is now down (HTTP 503)"), 10, message="down logged")
    _stop_and_check_every_line(proc)


def test_synapse_json_logs(synapse, zk, http_backend):
    backend = http_backend()
    synapse.add_service("web")
    node = {"host": "127.0.0.1", "port": backend.port, "name": backend.name}
    zk.create(f"{synapse.path('web')}/x_", json.dumps(node).encode(), sequence=True, makepath=True)
    proc = synapse.start(args=("--log-format", "json"))
    joined = f"joined 127.0.0.1:{backend.port}"
    wait_for(lambda: _has(proc, "web", joined), 20, message="membership change logged")
    _stop_and_check_every_line(proc)
