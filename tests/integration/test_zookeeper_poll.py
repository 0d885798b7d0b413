"""`zookeeper_poll` (Ruby's ZookeeperPollWatcher) on real ZooKeeper and HAProxy: joins, leaves
and data changes are seen within the polling interval, and no watch is ever set."""

from __future__ import annotations

import json
import signal
import time

import pytest
from support.procs import wait_for
from support.rigs import register
from support.zk import four_letter

from synapse_py.backend import Backend

pytestmark = pytest.mark.integration

INTERVAL = 1.0  # polling_interval_sec
WITHIN = INTERVAL + 2.0  # seconds: one interval, plus HAProxy's runtime API and slack


def addr(backend) -> str:
    return f"127.0.0.1:{backend.port}"


def polled(synapse, name: str) -> None:
    synapse.add_service(name)
    synapse.services[name]["discovery"].update(
        method="zookeeper_poll", polling_interval_sec=INTERVAL
    )


def watches(zk_server) -> tuple[int, str]:
    """ZooKeeper's count of every watch (`mntr`: data, exists and children watches) and its list
    of paths with a data or exists watch (`wchp`; ZooKeeper 3.8 lists no children watch there)."""
    port = zk_server.nodes[0].client_port
    mntr = dict(line.split("\t", 1) for line in four_letter(port, "mntr").splitlines())
    return int(mntr["zk_watch_count"]), four_letter(port, "wchp")


def test_join_leave_and_data_change_are_polled_without_watches(synapse, zk, zk_server, zk_root):
    a, b = (Backend("127.0.0.1", port, f"i-{port}") for port in (18101, 18102))
    synapse.haproxy_extra["use_nerve_weights"] = True  # the weight shows which data is applied
    polled(synapse, "web")
    node = register(zk, synapse.path("web"), a)
    before, _ = watches(zk_server)
    synapse.start()
    wait_for(lambda: synapse.live_servers("web") == {addr(a)}, WITHIN + INTERVAL, message="a")

    other = register(zk, synapse.path("web"), b)  # a join
    wait_for(lambda: synapse.live_servers("web") == {addr(a), addr(b)}, WITHIN, message="join")

    data = {"host": "127.0.0.1", "port": a.port, "name": a.name, "weight": 7}
    zk.set(node, json.dumps(data).encode())  # a data change, in place: no watch tells
    wait_for(lambda: synapse.weights("web").get(addr(a)) == 7, WITHIN, message="data change")

    zk.delete(other)  # a leave
    wait_for(lambda: synapse.live_servers("web") == {addr(a)}, WITHIN, message="leave")

    count, paths = watches(zk_server)
    assert count == before, paths  # synapse-py set no watch of any kind
    assert synapse.path("web") not in paths, paths
    control = f"{zk_root}/control"  # the test's own children watch shows that the count counts
    zk.ensure_path(control)
    zk.get_children(control, watch=lambda event: None)
    assert watches(zk_server)[0] == before + 1


def test_a_path_created_later_is_found_by_the_next_poll(synapse, zk):
    backend = Backend("127.0.0.1", 18103, "i-late")
    polled(synapse, "late")
    synapse.start()
    register(zk, synapse.path("late"), backend)  # makepath: the path appears now
    wait_for(lambda: synapse.live_servers("late") == {addr(backend)}, WITHIN + INTERVAL,
             message="found")  # fmt: skip


def test_sighup_switches_a_service_from_watching_to_polling(synapse, zk, zk_server):
    """The watched service's watches fire once more and are not set again; from then on the
    service is polled and holds no watch. (ZooKeeper 3.8 can remove watches, kazoo cannot: a
    watch set before the switch stays on the server until it fires.)"""
    a, b = (Backend("127.0.0.1", port, f"i-{port}") for port in (18104, 18105))
    synapse.add_service("web")  # zookeeper: watched
    node = register(zk, synapse.path("web"), a)
    before, _ = watches(zk_server)
    proc = synapse.start()
    wait_for(lambda: synapse.live_servers("web") == {addr(a)}, 10, message="a, watched")
    assert synapse.path("web") in watches(zk_server)[1]

    synapse.services["web"]["discovery"].update(
        method="zookeeper_poll", polling_interval_sec=INTERVAL
    )
    synapse.write()
    proc.signal(signal.SIGHUP)
    wait_for(lambda: "config reloaded" in proc.output(), 10, message="reloaded")
    register(zk, synapse.path("web"), b)  # fires the old children watch
    wait_for(lambda: synapse.live_servers("web") == {addr(a), addr(b)}, WITHIN, message="b")
    for _ in range(2):  # the old path watch (kazoo's DataWatch sets it once more as it stops)
        zk.set(synapse.path("web"), b"")
        time.sleep(0.5)
    zk.set(node, zk.get(node)[0])  # the old data watch of a's node
    time.sleep(2 * INTERVAL)  # two more polls
    count, paths = watches(zk_server)
    assert synapse.path("web") not in paths, paths
    assert count == before, paths  # no children watch either
    assert synapse.live_servers("web") == {addr(a), addr(b)}
