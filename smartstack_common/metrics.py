"""The Prometheus endpoint both daemons serve: its config key, and the HTTP server for a registry.

What is measured stays with each daemon (nerve_py/metrics.py, synapse_py/metrics.py): a collector
reads the daemon's own counters per scrape. `metrics` is our addition to both config formats.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

log = logging.getLogger(__name__)
METRICS_SCHEMA = {
    "type": "object",
    "required": ["port"],
    "additionalProperties": False,
    "properties": {
        "bind": {"type": "string", "minLength": 1},
        "port": {"type": "integer", "minimum": 0, "maximum": 65535},  # 0: any free port
    },
}


@dataclass(frozen=True)
class MetricsConfig:
    """Our addition: where the Prometheus endpoint listens (localhost unless told otherwise).

    Port 0 takes a port the kernel picks when the server starts: `MetricsServer.port` and the log
    line say which (a harness that picked a "free" port itself could lose it before the bind).
    """

    port: int
    bind: str = "127.0.0.1"


class BuildInfo:
    """`<daemon>_build_info{version="..."} 1`: which release runs, as Prometheus exporters say."""

    def __init__(self, daemon: str, version: str):
        self.daemon, self.version = daemon, version

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            f"{self.daemon}_build_info", f"{self.daemon}-py's version", labels=["version"]
        )
        family.add_metric([self.version], 1)
        yield family


def daemon_registry(daemon: str, version: str) -> CollectorRegistry:
    """A registry with what every Prometheus client library exports for a process (process_*,
    python_info, python_gc_*: the collectors of client_python's default registry) and the
    daemon's build info; the daemon adds its own collector."""
    registry = CollectorRegistry()
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    registry.register(BuildInfo(daemon, version))
    return registry


class MetricsUnavailable(Exception):
    """The metrics endpoint cannot listen where the config says."""


class MetricsServer:
    """The /metrics HTTP endpoint for one registry, on `bind:port` (localhost by default)."""

    def __init__(self, config: MetricsConfig, registry: CollectorRegistry):
        self.config = config
        self.registry = registry
        self._httpd: WSGIServer | None = None

    def start(self) -> None:
        c = self.config
        try:
            self._httpd, _ = start_http_server(c.port, addr=c.bind, registry=self.registry)
        except OSError as e:
            raise MetricsUnavailable(
                f"metrics: cannot listen on {c.bind}:{c.port}: {e.strerror}"
            ) from None
        log.info("metrics: listening on http://%s:%d/metrics", c.bind, self.port)

    @property
    def port(self) -> int | None:
        """The port it listens on (the kernel's pick for port 0); None when not started."""
        return None if self._httpd is None else self._httpd.server_address[1]

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
