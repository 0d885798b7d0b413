"""nerve-py as a real process on a real ZooKeeper: Ruby nerve 0.9.7's check and report behaviour."""

from __future__ import annotations

import time

import pytest
from support.fleet import children, one_child
from support.procs import wait_for

pytestmark = pytest.mark.integration


def test_first_check_result_registers_at_once_as_ruby_nerve(nerve, zk, http_backend):
    """A host switched from Ruby nerve (rise 3, interval 2) stays registered: no 4 s gap."""
    web = http_backend()
    check = {"type": "http", "uri": "/", "timeout": 1, "rise": 3, "fall": 2}
    nerve.write(nerve.service("web", web.port, [check], check_interval=2))
    nerve.start()
    wait_for(lambda: web.hits >= 1, 15, 0.01, "the first check")
    one_child(zk, nerve.path("web"), timeout=1.5)
    assert web.hits == 1  # registered on the first result, not after rise=3 rounds


def test_check_mocked_registers_though_every_check_fails(nerve, zk, http_backend):
    web = http_backend()
    web.healthy = False
    nerve.write(nerve.service("web", web.port, check_mocked=True))
    proc = nerve.start()
    one_child(zk, nerve.path("web"))
    assert "is now down" not in proc.output()


@pytest.mark.parametrize("node_type", ["persistent", "persistent_sequential"])
def test_ttl_seconds_touches_a_persistent_node(nerve, zk, http_backend, node_type):
    nerve.write(nerve.service("web", http_backend().port, node_type=node_type, ttl_seconds=1))
    proc = nerve.start()
    path = f"{nerve.path('web')}/{one_child(zk, nerve.path('web'))}"
    data, first = zk.get(path)
    assert first.ephemeralOwner == 0
    later = wait_for(lambda: (s := zk.exists(path)) and s.mtime > first.mtime and s, 5)
    wait_for(lambda: zk.exists(path).mtime > later.mtime, 3, message="a second touch")
    assert zk.get(path)[0] == data  # the same data, rewritten
    assert zk.exists(path).czxid == first.czxid  # the same node, not a new one
    proc.stop()
    assert children(zk, nerve.path("web")) == []


def test_ttl_seconds_leaves_ephemeral_nodes_alone(nerve, zk, http_backend):
    nerve.write(nerve.service("web", http_backend().port, ttl_seconds=0.5))
    nerve.start()
    path = f"{nerve.path('web')}/{one_child(zk, nerve.path('web'))}"
    before = zk.exists(path)
    time.sleep(2)
    assert zk.exists(path).mtime == before.mtime


def test_repeated_report_failures_restart_the_watcher_not_the_process(nerve, zk, http_backend):
    # a parent that is ephemeral cannot have children: every create fails while connected
    blocker = f"{nerve.zk_root}/eph"
    zk.create(blocker, b"", ephemeral=True, makepath=True)
    name, svc = nerve.service("web", http_backend().port)
    svc["zk_path"] = f"{blocker}/services"
    nerve.write((name, svc), max_repeated_report_failures=3)
    proc = nerve.start()
    wait_for(lambda: "restarting the watcher" in proc.output(), 20, message="a restart")
    assert proc.proc.poll() is None
    zk.delete(blocker)  # the fault is gone: the restarted watcher registers
    one_child(zk, svc["zk_path"])
    assert proc.proc.poll() is None


def test_rabbitmq_check_registers_while_the_broker_answers(nerve, zk, rabbitmq_broker):
    check = {"type": "rabbitmq", "username": "guest", "password": "guest", "timeout": 2}
    nerve.write(nerve.service("amqp", rabbitmq_broker.port, [check]))
    nerve.start()
    one_child(zk, nerve.path("amqp"), timeout=15)
    rabbitmq_broker.pause()  # a hung broker: the check times out, the node goes
    try:
        wait_for(lambda: not children(zk, nerve.path("amqp")), 15, message="deregistered")
    finally:
        rabbitmq_broker.resume()
    one_child(zk, nerve.path("amqp"), timeout=15)


FLAP = [{"type": "http", "uri": "/health", "timeout": 1, "rise": 1, "fall": 1}]


@pytest.mark.parametrize(("shadow", "most"), [(None, None), (False, 6)])
def test_rate_limiting_throttles_only_without_shadow_mode(nerve, zk, http_backend, shadow, most):
    """Ruby's default, shadow mode, logs a throttled report and makes it; false defers it."""
    web = http_backend()
    web.flapping = True  # every check flips: a transition each 0.1 s round
    rate = {"average_rate": 1, "max_burst": 1}
    if shadow is not None:
        rate["shadow_mode"] = shadow
    nerve.write(nerve.service("web", web.port, FLAP, check_interval=0.1, rate_limiting=rate))
    proc = nerve.start()
    wait_for(lambda: "registered" in proc.output(), 15, message="a first registration")
    time.sleep(3)
    web.flapping = False
    proc.stop()
    log = proc.output()
    creates = log.count(": registered ")
    mode = "false" if shadow is False else "true"  # absent: Ruby's default, true
    assert f"report throttled by rate_limiting (shadow_mode: {mode})" in log
    if most is None:
        assert creates >= 8  # unthrottled: about one per two rounds
    else:
        assert 1 <= creates <= most  # 1 token at start, 1 a second for ~3-4 s
