"""Both daemons serve Prometheus metrics; the tests scrape the real endpoint of a running daemon."""

from __future__ import annotations

import json

import pytest
from support.metrics import ANY_PORT, Scraper, metrics_port
from support.procs import wait_for

pytestmark = pytest.mark.integration


def test_nerve_metrics(nerve, zk, http_backend):
    backend = http_backend()
    nerve.write(nerve.service("web", backend.port), metrics=ANY_PORT)
    m = Scraper(metrics_port(nerve.start()))
    m.wait("nerve_registered_nodes", lambda v: v == 1, 20, service="web")
    check = {"service": "web", "check": f"http-127.0.0.1:{backend.port}"}
    assert m.value("nerve_check_up", **check) == 1
    assert m.value("nerve_check_runs_total", result="pass", **check) >= 1
    assert m.value("nerve_check_duration_seconds_count", **check) >= 1
    assert m.value("nerve_registrations_total", service="web") == 1
    assert m.value("nerve_report_failures_total", service="web") == 0
    assert m.value("nerve_zookeeper_connected", ensemble=nerve.zk_hosts) == 1

    backend.healthy = False
    m.wait("nerve_registered_nodes", lambda v: v == 0, service="web")
    assert m.value("nerve_check_up", **check) == 0
    assert m.value("nerve_check_runs_total", result="fail", **check) >= 1
    assert m.value("nerve_service_healthy", service="web") == 0

    backend.healthy = True  # a re-registration is counted
    m.wait("nerve_registrations_total", lambda v: v == 2, service="web")


def register(zk, path: str, data: dict) -> None:
    zk.create(
        f"{path}/{data['name']}_",
        json.dumps(data).encode(),
        ephemeral=True,
        sequence=True,
        makepath=True,
    )


def test_synapse_metrics(synapse, zk, http_backend):
    a, b = http_backend(), http_backend()
    synapse.add_service("web")
    synapse.extra = {"metrics": ANY_PORT}
    path = synapse.path("web")
    register(zk, path, {"host": "127.0.0.1", "port": a.port, "name": a.name})
    m = Scraper(metrics_port(synapse.start()))
    m.wait("synapse_backends", lambda v: v == 1, 20, service="web")
    assert m.value("synapse_zookeeper_events_total", kind="children") >= 1
    assert m.value("synapse_discovery_healthy", service="web") == 1
    assert m.value("synapse_renders_total", generator="haproxy") >= 1
    assert m.value("synapse_reloads_total", generator="haproxy") >= 1
    # file_output applies after HAProxy in the same pass: its count may trail synapse_backends
    m.wait("synapse_files_written_total", lambda v: v >= 1, generator="file_output")
    wait_for(lambda: synapse.live_servers("web"), 10, message="HAProxy serves web")
    commands = m.value("synapse_runtime_api_commands_total", generator="haproxy")
    changes = m.value("synapse_change_seconds_count")

    register(zk, path, {"host": "127.0.0.1", "port": b.port, "name": b.name})
    register(zk, path, {"host": "not a host!", "port": 1, "name": "bad"})
    m.wait("synapse_backends", lambda v: v == 2, service="web")
    # the membership is counted before the generators apply it: wait for the apply's figures
    m.wait("synapse_runtime_api_commands_total", lambda v: v > commands, generator="haproxy")
    m.wait("synapse_change_seconds_count", lambda v: v > changes)
    assert m.value("synapse_change_seconds_bucket", le="+Inf") > changes
    m.wait("synapse_invalid_nodes_skipped_total", lambda v: v == 1, service="web")
    refused = {"host": "127.0.0.1", "port": 2, "name": "refused"}  # no other member there
    register(zk, path, {**refused, "haproxy_server_options": "agent-check"})  # HAProxy refuses it
    m.wait("synapse_invalid_nodes_skipped_total", lambda v: v == 2, service="web")
