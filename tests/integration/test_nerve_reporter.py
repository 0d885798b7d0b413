"""nerve-py's Reporter against a real ZooKeeper: leftovers of its own replaced, siblings left alone.

A registration reads only the children whose name could be ours (issue 11, case 11c): reading every
sibling made a registration among 10,000 siblings take seconds (benchmarks/nerve_siblings.py).
"""

from __future__ import annotations

import json

import pytest
from kazoo.client import KazooClient
from support.procs import wait_for

from nerve_py.config import ServiceConfig
from nerve_py.registration import encode_child_name
from nerve_py.reporter import Reporter
from nerve_py.zk import ZkConnection

pytestmark = pytest.mark.integration

ME = {"host": "127.0.0.1", "port": 8080, "name": "web-1"}


def service(zk_path: str) -> ServiceConfig:
    return ServiceConfig(
        name="web",
        instance_id=ME["name"],
        host=ME["host"],
        port=ME["port"],
        zk_hosts=("unused",),
        zk_path=zk_path,
        checks=(),
    )


def node(client: KazooClient, zk_path: str, data: dict, encoded: bool = False) -> str:
    name = encode_child_name(data) if encoded else f"{data['name']}_"
    path = f"{zk_path}/{name}"
    return client.create(path, json.dumps(data).encode(), ephemeral=True, sequence=True)


@pytest.fixture
def conn(zk_server):
    connection = ZkConnection(zk_server.hosts, 10)
    connection.start()
    wait_for(lambda: connection.connected, 10, message="reporter's session")
    yield connection
    connection.stop()


def test_registration_reads_only_children_whose_name_could_be_ours(zk, zk_root, conn):
    path = f"{zk_root}/web/services"
    zk.ensure_path(path)
    others = {"host": "10.0.0.9", "port": 8080}
    siblings = [node(zk, path, {**others, "name": f"i-{i}"}, encoded=i % 2 == 1) for i in range(40)]
    lookalike = node(zk, path, {**others, "name": "web-1_b"})  # named "web-1_b_<seq>"
    mentions_me = node(zk, path, {**others, "name": "i-x", "labels": {"peer": "web-1"}}, True)
    # a nerve-py killed with -9 left these: alive in its session (here zk's) until it expires
    leftovers = [
        node(zk, path, ME),
        node(zk, path, {**ME, "weight": 5}, encoded=True),  # an older config of ours
    ]
    reporter = Reporter(service(path), conn)
    reads = []
    real_get = conn.client.get
    conn.client.get = lambda p, *a, **k: reads.append(p) or real_get(p, *a, **k)
    reporter.sync(True)
    assert sorted(reads) == sorted([lookalike, mentions_me, *leftovers])
    kept = {f"{path}/{c}" for c in zk.get_children(path)}
    assert kept == {*siblings, lookalike, mentions_me, reporter.node}
    assert zk.exists(reporter.node).ephemeralOwner == conn.session_id()
