"""The initial sync on real ZooKeeper: every service's membership, read in bulk, reaches the
generators in one first apply; the CLI's one-shot read collects its bulk the same way."""

from __future__ import annotations

import json
import queue
import threading

import pytest
from support.procs import wait_for

from synapse_py.config import DiscoveryConfig, ServiceConfig, SynapseConfig
from synapse_py.discovery import DiscoveryContext
from synapse_py.discovery.zookeeper import ZookeeperDiscovery
from synapse_py.reconciler import Reconciler

pytestmark = pytest.mark.integration

SERVICES, MEMBERS = 24, 10  # 240 nodes


class Recorder:
    """A generator that keeps every membership it was handed."""

    def __init__(self):
        self.applied: list[dict[str, tuple]] = []
        self.lock = threading.Lock()

    def apply(self, services, membership):
        with self.lock:
            self.applied.append({name: tuple(b) for name, b in membership.items()})


def populate(zk, root: str) -> dict[str, set[int]]:
    """SERVICES x MEMBERS nerve-style nodes, plus one invalid node in every third service."""
    ports: dict[str, set[int]] = {}
    pending = []
    for i in range(SERVICES):
        path = f"{root}/s{i}"
        zk.ensure_path(path)
        ports[f"s{i}"] = {20000 + i * 100 + j for j in range(MEMBERS)}
        for port in ports[f"s{i}"]:
            data = json.dumps({"host": "127.0.0.1", "port": port, "name": f"m{port}"}).encode()
            pending.append(zk.create_async(f"{path}/m{port}_", data, sequence=True))
        if i % 3 == 0:
            pending.append(zk.create_async(f"{path}/bad_", b'{"host": "no spaces allowed"}'))
    for result in pending:
        result.get(timeout=30)
    return ports


def services(zk_server, root: str) -> tuple[ServiceConfig, ...]:
    return tuple(
        ServiceConfig(f"s{i}", DiscoveryConfig("zookeeper", (zk_server.hosts,), f"{root}/s{i}"))
        for i in range(SERVICES)
    )


def test_every_services_members_arrive_in_one_first_apply(zk_server, zk, zk_root):
    ports = populate(zk, zk_root)
    gen = Recorder()
    rec = Reconciler(SynapseConfig(services=services(zk_server, zk_root)), [gen], queue.Queue())
    rec.start()
    try:
        wait_for(lambda: len(gen.applied) >= 2, 30, message="the first apply from ZooKeeper")
        rec.idle.wait(5)
        with gen.lock:
            start, first = gen.applied[0], gen.applied[1]
        assert start == {}  # nothing known before ZooKeeper answered
        assert {name: {b.port for b in found} for name, found in first.items()} == ports
        assert sum(len(found) for found in first.values()) == SERVICES * MEMBERS
        assert sum(d.invalid for d in rec.discoveries.values()) == SERVICES // 3
        assert len(gen.applied) == 2  # nothing trickled in afterwards
    finally:
        rec.stop()


def test_the_one_shot_read_of_a_service_reads_its_children_in_bulk(zk_server, zk, zk_root):
    ports = populate(zk, zk_root)
    config = SynapseConfig(services=services(zk_server, zk_root))
    context = DiscoveryContext(config, queue.Queue())
    try:
        found, data = ZookeeperDiscovery.snapshot(config.services[0], context, timeout=10)
    finally:
        context.stop()
    assert {b.port for b in found} == ports["s0"] and data == b""
