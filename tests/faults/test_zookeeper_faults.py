"""Scenarios 1, 2 and 6: the ensemble loses its leader, its quorum, or one host its link."""

from __future__ import annotations

import os
import time

import pytest
from support.backends import HttpBackend
from support.fleet import SESSION, Fleet, children, registered
from support.netns import Netns, netns_available
from support.procs import wait_for
from support.traffic import Traffic
from support.zk import ZooKeeperEnsemble

pytestmark = pytest.mark.integration

CONVERGE = 25  # seconds from a repaired fault to every healthy service registered and routed


def test_leader_killed_loses_nothing(fleet, zk, zk_ensemble, http_backend):
    """1. kill -9 the leader: same nodes, same synapse output, no reload, no failed request."""
    a, b = http_backend(), http_backend()
    fleet.nerve("host-1", [a, b]).start()
    port = fleet.serve(a, b)
    path = fleet.synapse.path("web")
    nodes, before, pid = children(zk, path), fleet.outputs(), fleet.synapse.worker_pid()
    with Traffic(port) as traffic:
        zk_ensemble.leader().kill()
        wait_for(zk_ensemble.leader, 20, 0.2, "a new leader")
        time.sleep(SESSION + 1)  # past the session timeout: every session must have survived
    assert traffic.failures == 0 and traffic.served > 50
    assert children(zk, path) == nodes
    assert fleet.outputs() == before
    assert fleet.synapse.worker_pid() == pid


def test_quorum_lost_then_restored_converges(fleet, zk, zk_ensemble, http_backend):
    """2. No quorum past the session timeout: last membership served; then all converge."""
    a, b, c = http_backend(), http_backend(), http_backend()
    fleet.nerve("host-1", [a, b]).start()
    late = fleet.nerve("host-2", [c])
    port = fleet.serve(a, b)
    path = fleet.synapse.path("web")
    lost = [n for n in zk_ensemble.nodes if n is not zk_ensemble.leader()][:1]
    lost.append(zk_ensemble.leader())
    with Traffic(port) as traffic:
        for node in lost:
            node.kill()
        late.start()  # a new healthy instance that cannot register during the outage
        time.sleep(SESSION + 2)
        assert fleet.synapse.live_servers("web") == {f"127.0.0.1:{x.port}" for x in (a, b)}
        for node in lost:
            node.start()
        zk_ensemble.wait_serving(30)
        wait_for(lambda: registered(zk, path) == {a.port, b.port, c.port}, CONVERGE, 0.2)
        fleet.wait_live((a, b, c), timeout=CONVERGE)
    assert traffic.failures == 0 and traffic.served > 50


NET = "10.213.7"  # private addresses, only on the veth pairs this test creates


@pytest.fixture
def hosts(tmp_path):
    """Two "hosts": namespaces for nerve and synapse, joined to the root namespace by veths."""
    reason = netns_available()
    if reason:
        pytest.skip(f"network namespaces unavailable: {reason}")
    net = Netns(f"ss{os.getpid() % 100000}")
    try:
        consumer, provider = net.add("c"), net.add("p")
        zk_link = net.veth(consumer, "z", f"{NET}.1/30", f"{NET}.2/30")  # ZooKeeper's address
        net.veth(consumer, "s", f"{NET}.5/30", f"{NET}.6/30")  # backends and clients
        net.veth(provider, "n", f"{NET}.9/30", f"{NET}.10/30")
        net.run(provider, "ip", "route", "add", "default", "via", f"{NET}.9")
        yield net, consumer, provider, zk_link
    finally:
        net.delete()


def test_consumer_cut_off_from_zookeeper(tmp_path, hosts, zk_root):
    """6. synapse's host loses ZooKeeper: last membership kept; converged after the link is back."""
    net, consumer, provider, zk_link = hosts
    ens = ZooKeeperEnsemble(tmp_path / "ensemble", size=3, host=f"{NET}.1")
    backends = [HttpBackend(f"nb{i}", host=f"{NET}.5").start() for i in range(3)]
    fleet = Fleet(tmp_path, ens.hosts, zk_root, prefix=net.prefix(consumer))
    try:
        ens.start()
        zk = ens.client(timeout=10)
        _cut_off_and_back(net, zk_link, fleet, zk, backends, provider)
    except BaseException:
        print(fleet.logs())
        raise
    finally:
        fleet.stop()
        for b in backends:
            b.stop()
        ens.stop()


def _cut_off_and_back(net, zk_link, fleet, zk, backends, provider):
    a, b, c = backends
    fleet.synapse.bind_address = f"{NET}.6"
    fleet.nerve("host-1", [a, b], prefix=net.prefix(provider)).start()
    late = fleet.nerve("host-2", [c], prefix=net.prefix(provider))
    port = fleet.serve(a, b)
    with Traffic(port, host=f"{NET}.6") as traffic:
        net.set_link(zk_link, up=False)
        late.start()  # registers: ZooKeeper is fine, only the consumer is cut off
        path = fleet.synapse.path("web")
        wait_for(lambda: registered(zk, path) == {x.port for x in backends}, 20)
        time.sleep(SESSION + 1)  # synapse's session expires meanwhile
        fleet.wait_live((a, b), timeout=1)
        net.set_link(zk_link, up=True)
        fleet.wait_live((a, b, c), timeout=CONVERGE)
    assert traffic.failures == 0 and traffic.served > 50
