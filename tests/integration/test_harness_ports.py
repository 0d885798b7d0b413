"""The harness does not fail by itself: ports it picks stay out of the kernel's ephemeral range,
and a ZooKeeper whose port was taken between the pick and the bind starts again on a new one."""

from __future__ import annotations

import socket

import pytest
from support.ports import ephemeral_range, free_port, free_ports
from support.zk import ZooKeeperEnsemble

pytestmark = pytest.mark.integration


def test_picked_ports_are_outside_the_ephemeral_range_and_never_repeat():
    low, high = ephemeral_range()
    ports = free_ports(50)
    assert len(set(ports)) == 50
    assert not [p for p in ports if low <= p <= high]


def test_a_zookeeper_whose_port_is_taken_starts_on_a_new_port(tmp_path):
    ensemble = ZooKeeperEnsemble(tmp_path / "zk")
    taken = ensemble.nodes[0].client_port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        ensemble.start()
        try:
            assert ensemble.nodes[0].client_port != taken
            client = ensemble.client()
            assert client.get_children("/") is not None
            client.stop()
            client.close()
        finally:
            ensemble.stop()
    assert free_port() != taken  # handed out once in this process
