"""BatchingClient against a real ZooKeeper: a batch is sent when its block ends, in order,
every request answered; a client that cannot batch, or a closed one, behaves as kazoo's own."""

from __future__ import annotations

import time

import pytest
from kazoo.exceptions import ConnectionClosedError, NoNodeError

from synapse_py.discovery.zookeeper_batch import BatchingClient, batch
from synapse_py.discovery.zookeeper_handler import PollingHandler

pytestmark = pytest.mark.integration


@pytest.fixture
def client(zk_server):
    c = BatchingClient(hosts=zk_server.hosts, handler=PollingHandler())
    c.start(timeout=10)
    yield c
    c.stop()
    c.close()


def test_a_batch_is_sent_when_its_block_ends_and_every_read_is_answered(zk, zk_root, client):
    for i in range(50):
        zk.create(f"{zk_root}/n{i:02}", f"{i}".encode(), makepath=True)
    with batch(client):
        results = [client.get_async(f"{zk_root}/n{i:02}") for i in range(50)]
        results.append(client.get_async(f"{zk_root}/missing"))
        time.sleep(0.2)
        assert not any(r.ready() for r in results)  # held: nothing sent yet
    assert [r.get(timeout=10)[0] for r in results[:50]] == [f"{i}".encode() for i in range(50)]
    with pytest.raises(NoNodeError):
        results[50].get(timeout=10)


def test_requests_outside_a_batch_and_nested_blocks_are_sent_as_before(zk, zk_root, client):
    zk.create(f"{zk_root}/a", b"a", makepath=True)
    assert client.get_async(f"{zk_root}/a").get(timeout=10)[0] == b"a"
    with batch(client), batch(client):  # the inner block joins the outer
        inner = client.get_async(f"{zk_root}/a")
    assert inner.get(timeout=10)[0] == b"a"
    assert client.get(f"{zk_root}/a")[0] == b"a"  # kazoo's synchronous calls too


def test_a_closed_client_fails_the_batch_as_kazoo_fails_a_request(zk_server):
    c = BatchingClient(hosts=zk_server.hosts, handler=PollingHandler())
    c.start(timeout=10)
    c.stop()
    with batch(c):
        result = c.get_async("/anything")
    with pytest.raises(ConnectionClosedError):
        result.get(timeout=5)
    c.close()


def test_without_kazoos_private_names_a_batch_sends_each_request_at_once(zk, zk_root, client):
    zk.create(f"{zk_root}/b", b"b", makepath=True)
    client.batching = False  # what a kazoo without _queue / _connection._write_sock gives
    with batch(client):
        result = client.get_async(f"{zk_root}/b")
        assert result.get(timeout=10)[0] == b"b"  # answered inside the block: not held
