"""Both daemons serve Prometheus metrics; the tests scrape the real endpoint of a running daemon."""

from __future__ import annotations

import json

import pytest
from support.metrics import ANY_PORT, Scraper, metrics_port
from support.procs import wait_for

from nerve_py import __version__ as nerve_version
from synapse_py import __version__ as synapse_version

pytestmark = pytest.mark.integration


def test_nerve_metrics(nerve, zk, http_backend):
    backend = http_backend()
    nerve.write(nerve.service("web", backend.port), metrics=ANY_PORT)
    m = Scraper(metrics_port(nerve.start()))
    m.wait("nerve_registered_nodes", lambda v: v == 1, 20, service="web")
    check = {"service": "web", "check": f"http-127.0.0.1:{backend.port}/health"}
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


def test_nerve_exports_one_series_per_check(nerve, zk, http_backend):
    # today: the three checks share the name http-127.0.0.1:<port>, so /metrics carries three
    # samples with the same labels; Prometheus keeps one and count(nerve_check_up) says 1
    backend = http_backend()
    checks = [
        {"type": "http", "uri": "/health", "timeout": 1},
        {"type": "http", "uri": "/", "timeout": 1},
        {"type": "http", "uri": "/", "expect": "not in the body", "timeout": 1},  # fails
    ]
    nerve.write(nerve.service("web", backend.port, checks), metrics=ANY_PORT)
    proc = nerve.start()
    m = Scraper(metrics_port(proc))
    m.wait("nerve_check_runs_total", lambda v: v >= 1, 20, service="web", result="fail",
           check=f"http-127.0.0.1:{backend.port}/#3")  # fmt: skip
    up = {s[0]["check"]: s[1] for s in m.series("nerve_check_up")}
    assert len(m.series("nerve_check_up")) == len(up) == 3  # distinct series, the failing one too
    base = f"http-127.0.0.1:{backend.port}"
    assert up == {f"{base}/health": 1, f"{base}/": 1, f"{base}/#3": 0}
    assert m.value("nerve_service_healthy", service="web") == 0
    # the log names the failing check and its own reason
    assert f"check {base}/#3 is now down (HTTP 200 without 'not in the body'" in proc.output()
    # the log names the failing check and its own reason
    assert f"check {base}/#3 is now down (HTTP 200 without 'not in the body'" in proc.output()


def _standard_families(m: Scraper, daemon: str, version: str) -> None:
    """process_* as Prometheus client libraries export them, and <daemon>_build_info."""
    samples = {name for name, _ in m.samples()}
    for name in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_start_time_seconds",
        "process_open_fds",
        "process_max_fds",
    ):
        assert name in samples, name
    assert m.value(f"{daemon}_build_info", version=version) == 1


def test_both_daemons_export_process_and_build_info(nerve, synapse, zk, http_backend):
    backend = http_backend()
    nerve.write(nerve.service("web", backend.port), metrics=ANY_PORT)
    n = Scraper(metrics_port(nerve.start()))
    n.wait("nerve_registered_nodes", lambda v: v == 1, 20, service="web")
    _standard_families(n, "nerve", nerve_version)

    synapse.add_service("web")
    synapse.extra = {"metrics": ANY_PORT}
    s = Scraper(metrics_port(synapse.start()))
    s.wait("synapse_backends", lambda v: v == 1, 20, service="web")
    _standard_families(s, "synapse", synapse_version)
    s.wait("synapse_zookeeper_connected", lambda v: v == 1, ensemble=synapse.zk_hosts)
    applied = s.value("synapse_last_successful_apply_timestamp_seconds")
    assert applied is not None and applied > s.value("process_start_time_seconds") - 1


def test_a_clean_sigterm_logs_no_session_lost(nerve, synapse, zk, http_backend):
    # today: stopping the ZooKeeper client reports the session LOST to the state listener, and
    # both daemons log it as a warning on a clean SIGTERM
    backend = http_backend()
    nerve.write(nerve.service("web", backend.port), metrics=ANY_PORT)
    n = nerve.start()
    Scraper(metrics_port(n)).wait("nerve_registered_nodes", lambda v: v == 1, 20, service="web")
    synapse.add_service("web")
    synapse.extra = {"metrics": ANY_PORT}
    s = synapse.start()
    Scraper(metrics_port(s)).wait("synapse_backends", lambda v: v == 1, 20, service="web")
    assert n.stop() == 0 and s.stop() == 0
    for proc in (n, s):
        assert "lost" not in proc.output().lower(), proc.log_path
