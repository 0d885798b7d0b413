"""The /metrics endpoint both daemons serve (their collectors are tested with each daemon)."""

from __future__ import annotations

import socket
import urllib.request

import jsonschema
import pytest
from prometheus_client import CollectorRegistry, Counter

from smartstack_common.metrics import (
    METRICS_SCHEMA,
    MetricsConfig,
    MetricsServer,
    MetricsUnavailable,
)


def test_defaults_to_localhost():
    assert MetricsConfig(port=9100).bind == "127.0.0.1"


def test_serves_the_registry_it_is_given_and_stops():
    registry = CollectorRegistry()
    Counter("demo_things", "Things", registry=registry).inc(3)
    server = MetricsServer(MetricsConfig(port=0), registry)
    server.start()
    try:
        port = server.port
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        assert b"demo_things_total 3.0" in body
    finally:
        server.stop()
    server.stop()  # a second stop is harmless


def test_a_busy_port_is_metrics_unavailable_naming_the_address():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsUnavailable, match=f"cannot listen on 127.0.0.1:{port}"):
            MetricsServer(MetricsConfig(port=port), CollectorRegistry()).start()


def test_port_0_listens_on_a_port_the_kernel_picks_and_logs_it(caplog):
    server = MetricsServer(MetricsConfig(port=0), CollectorRegistry())
    assert server.port is None
    with caplog.at_level("INFO", logger="smartstack_common.metrics"):
        server.start()
    try:
        assert server.port and server.port > 0
        assert f"listening on http://127.0.0.1:{server.port}/metrics" in caplog.text
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5).read()
    finally:
        server.stop()
    assert server.port is None


def test_the_schema_accepts_port_0_and_refuses_negative_ports():
    validator = jsonschema.Draft202012Validator(METRICS_SCHEMA)
    assert validator.is_valid({"port": 0})
    assert not validator.is_valid({"port": -1})
