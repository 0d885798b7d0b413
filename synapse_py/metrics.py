"""Prometheus metrics for synapse-py: a collector over the reconciler's and generators' counters.

The reconciler and generators keep their figures anyway; a scrape turns them into metric families.
The one histogram, seconds from a ZooKeeper event to the proxy change, is fed by the reconciler's
`on_change` hook because a distribution cannot be read back from a counter.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .discovery.zookeeper_clients import ZkClients
from .generators import FIGURES
from .reconciler import Reconciler

CHANGE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class SynapseCollector:
    """synapse_* metrics from a running reconciler and its generators."""

    def __init__(self, reconciler: Reconciler):
        self.reconciler = reconciler
        self.change_seconds = Histogram(
            "synapse_change_seconds",
            "Seconds from a ZooKeeper event to the generators applying the membership change",
            buckets=CHANGE_BUCKETS,
            registry=None,
        )
        reconciler.on_change = self.change_seconds.observe

    def collect(self) -> Iterator:
        r = self.reconciler
        yield from self.change_seconds.collect()
        yield _per_service(
            GaugeMetricFamily,
            "synapse_backends",
            "Backends in force",
            {name: len(b) for name, b in dict(r.membership).items()},
        )
        members = dict(r.discoveries)
        refused = _refused_in_context(r.generators)
        yield _per_service(
            CounterMetricFamily,
            "synapse_invalid_nodes_skipped",
            "Registry nodes skipped because a field failed validation or the proxy refused them",
            {name: m.invalid + refused.get(name, 0) for name, m in members.items()},
        )
        yield _per_service(
            CounterMetricFamily,
            "synapse_zookeeper_reads",
            "ZooKeeper node reads",
            {name: m.reads for name, m in members.items()},
        )
        yield _per_service(
            GaugeMetricFamily,
            "synapse_discovery_healthy",
            "1 while the service's discovery source answers (its membership is kept when not)",
            {name: int(m.healthy()) for name, m in members.items()},
        )
        events = CounterMetricFamily(
            "synapse_zookeeper_events", "ZooKeeper events handled", labels=["kind"]
        )
        for kind, count in sorted(dict(r.discovery_events).items()):
            events.add_metric([kind], count)
        yield events
        yield CounterMetricFamily("synapse_applies", "Desired states applied", value=r.applies)
        yield CounterMetricFamily(
            "synapse_apply_failures", "Applies that failed and are retried", value=r.apply_failures
        )
        yield _per_service(
            CounterMetricFamily,
            "synapse_mass_expiry_holds",
            "Times a sharp shrink was held for the grace period",
            {name: g.holds for name, g in dict(r.guards).items()},
        )
        yield GaugeMetricFamily(
            "synapse_last_successful_apply_timestamp_seconds",
            "When every generator last applied the desired state (Unix time; 0: not yet)",
            value=r.last_applied_at,
        )
        yield _zookeeper_connected(r.context.existing(ZkClients))
        yield from _generator_families(r.generators)


def _zookeeper_connected(clients: ZkClients | None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "synapse_zookeeper_connected", "1 while connected to the ensemble", labels=["ensemble"]
    )
    for ensemble, connected in sorted((clients.connected() if clients else {}).items()):
        family.add_metric([ensemble], float(connected))
    return family


def _per_service(cls, name: str, doc: str, values: dict[str, float]):
    family = cls(name, doc, labels=["service"])
    for service, value in sorted(values.items()):
        family.add_metric([service], value)
    return family


def _refused_in_context(generators) -> dict[str, int]:
    """Per service: nodes a generator skipped because the proxy refused them."""
    refused: dict[str, int] = {}
    for gen in generators:
        for name, count in gen.rejected_nodes().items():
            refused[name] = refused.get(name, 0) + count
    return refused


def _generator_families(generators) -> Iterator:
    """Each generator's figures: the standard ones (generators.FIGURES) under their own
    names, any other under synapse_generator_figure."""
    figures = [(gen.name, gen.figures()) for gen in generators]
    for figure, (name, doc) in FIGURES.items():
        family = CounterMetricFamily(name, doc, labels=["generator"])
        for gen_name, counted in figures:
            if figure in counted:
                family.add_metric([gen_name], counted[figure])
        yield family
    other = CounterMetricFamily(
        "synapse_generator_figure", "A generator's own counters", labels=["generator", "figure"]
    )
    for gen_name, counted in figures:
        for figure, value in sorted(counted.items()):
            if figure not in FIGURES:
                other.add_metric([gen_name, figure], value)
    yield other
