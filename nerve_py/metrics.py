"""Prometheus metrics for nerve-py: one collector that reads the daemon's own counters per scrape.

Nothing is incremented for metrics' sake: the watchers, reporters and ZooKeeper connections keep
their figures anyway, and a scrape turns them into metric families.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)

from .service_watcher import ServiceWatcher
from .zk import ZkPool


class Observed(Protocol):
    """What the collector reads: the daemon's running watchers and its ZooKeeper pool."""

    watchers: dict[str, ServiceWatcher]
    pool: ZkPool


class NerveCollector:
    """nerve_* metrics from a running daemon."""

    def __init__(self, daemon: Observed):
        self.daemon = daemon

    def collect(self) -> Iterator[Metric]:
        watchers = dict(self.daemon.watchers)  # a copy: SIGHUP may replace entries meanwhile
        yield from _check_families(watchers)
        yield from _service_families(watchers)
        yield from _zookeeper_families(self.daemon.pool)


def _check_families(watchers: dict[str, ServiceWatcher]) -> Iterable[Metric]:
    labels = ["service", "check"]
    up = GaugeMetricFamily("nerve_check_up", "1 if the check is up after rise/fall", labels=labels)
    runs = CounterMetricFamily(
        "nerve_check_runs", "Check runs by result", labels=[*labels, "result"]
    )
    seconds = SummaryMetricFamily(
        "nerve_check_duration_seconds", "Time one check run took", labels=labels
    )
    for service, w in sorted(watchers.items()):
        for check, hyst, stats in zip(w.checks, w.hysteresis, w.stats, strict=True):
            ids = [service, check.name]
            up.add_metric(ids, float(hyst.up))
            runs.add_metric([*ids, "pass"], stats.passed)
            runs.add_metric([*ids, "fail"], stats.failed)
            seconds.add_metric(ids, stats.passed + stats.failed, stats.seconds)
    return up, runs, seconds


# watcher figure -> (family type, metric name, help), one sample per service
SERVICE_METRICS = {
    "healthy": (GaugeMetricFamily, "nerve_service_healthy", "1 if every check is up"),
    "maintenance": (GaugeMetricFamily, "nerve_service_maintenance", "1 while in maintenance"),
    "node": (GaugeMetricFamily, "nerve_registered_nodes", "ZooKeeper nodes registered now"),
    "registrations": (
        CounterMetricFamily,
        "nerve_registrations",
        "Nodes created: the first registration and every re-registration",
    ),
    "failures": (CounterMetricFamily, "nerve_report_failures", "Failed reports"),
    "failing": (
        GaugeMetricFamily,
        "nerve_report_failures_consecutive",
        "Failed reports in a row (the watcher restarts at max_repeated_report_failures)",
    ),
    "restarts": (
        CounterMetricFamily,
        "nerve_watcher_restarts",
        "Watcher restarts after max_repeated_report_failures failed reports in a row",
    ),
    "throttled": (
        CounterMetricFamily,
        "nerve_reports_throttled",
        "Reports that found no rate_limiting token (made anyway in shadow mode)",
    ),
}


def _service_families(watchers: dict[str, ServiceWatcher]) -> Iterable[Metric]:
    families = {
        k: cls(name, doc, labels=["service"]) for k, (cls, name, doc) in SERVICE_METRICS.items()
    }
    for service, w in sorted(watchers.items()):
        for key, value in _service_figures(w).items():
            families[key].add_metric([service], float(value))
    return families.values()


def _service_figures(w: ServiceWatcher) -> dict[str, float]:
    r = w.reporter
    return {
        "healthy": w.healthy,
        "maintenance": w.maintenance,
        "node": r.node is not None,
        "registrations": r.registrations,
        "failures": r.failures_total,
        "failing": r.failures,
        "restarts": w.restarts,
        "throttled": r.limiter.throttled,
    }


def _zookeeper_families(pool: ZkPool) -> Iterable[Metric]:
    connected = GaugeMetricFamily(
        "nerve_zookeeper_connected", "1 while connected to the ensemble", labels=["ensemble"]
    )
    lost = CounterMetricFamily(
        "nerve_zookeeper_sessions_lost", "ZooKeeper sessions lost (expired)", labels=["ensemble"]
    )
    for conn in pool.connections():
        connected.add_metric([conn.hosts], float(conn.connected))
        lost.add_metric([conn.hosts], conn.generation)
    return connected, lost
