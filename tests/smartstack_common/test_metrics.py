"""The /metrics endpoint both daemons serve (their collectors are tested with each daemon)."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from smartstack_common.metrics import MetricsConfig, MetricsServer, MetricsUnavailable


def test_defaults_to_localhost():
    assert MetricsConfig(port=9100).bind == "127.0.0.1"


def test_serves_the_registry_it_is_given_and_stops():
    registry = CollectorRegistry()
    Counter("demo_things", "Things", registry=registry).inc(3)
    server = MetricsServer(MetricsConfig(port=0), registry)
    server.start()
    try:
        port = server._httpd.server_address[1]
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
