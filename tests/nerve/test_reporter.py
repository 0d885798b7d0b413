"""The Reporter in process, against a small in-memory stand-in for a kazoo client.

What a real ZooKeeper does to the nodes (leftovers of an earlier session, 10,000 siblings) is
tested in tests/integration/test_nerve_reporter.py; here: which calls the Reporter makes on each
transition, after a deleted node, a lost session, a missed event, a failed call, and under
rate_limiting.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from kazoo.exceptions import ConnectionLoss, NoAuthError, NodeExistsError, NoNodeError
from support.nerve_service import nerve_service

from nerve_py.config import RateLimit, ServiceConfig
from nerve_py.rate_limit import ReportLimiter, TokenBucket
from nerve_py.registration import encode_child_name
from nerve_py.reporter import Reporter, ttl_applies

ZK_PATH = "/nerve/web"
ME = {"host": "127.0.0.1", "port": 8080, "name": "web-1"}
PAYLOAD = b'{"host":"127.0.0.1","port":8080,"name":"web-1"}'  # what Ruby nerve writes for ME


@dataclass(frozen=True)
class Stat:
    czxid: int
    ephemeralOwner: int  # noqa: N815 - kazoo's ZnodeStat spelling


class FakeZk:
    """The kazoo calls the Reporter makes, on a dict of nodes; one-shot exists watches fire on
    delete as kazoo's do. `fail` makes the next call raise it; `calls` records writes."""

    def __init__(self, session: int = 1):
        self.nodes: dict[str, tuple[bytes, Stat]] = {}
        self.session = session
        self.zxid = 0
        self.seq = 0
        self.watches: dict[str, list] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail: Exception | None = None

    def _maybe_fail(self) -> None:
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error

    def exists(self, path: str, watch=None):
        self._maybe_fail()
        if watch is not None:
            self.watches.setdefault(path, []).append(watch)
        return self.nodes[path][1] if path in self.nodes else None

    def create(self, path, value, ephemeral, sequence, makepath, include_data):
        self._maybe_fail()
        assert makepath and include_data
        if sequence:
            self.seq += 1
            path = f"{path}{self.seq:010d}"
        if path in self.nodes:
            raise NodeExistsError()
        self.zxid += 1
        stat = Stat(self.zxid, self.session if ephemeral else 0)
        self.nodes[path] = (value, stat)
        self.calls.append(("create", path))
        return path, stat

    def delete(self, path: str) -> None:
        self._maybe_fail()
        if path not in self.nodes:
            raise NoNodeError()
        self.calls.append(("delete", path))
        self.remove(path)

    def set(self, path: str, value: bytes) -> None:
        self._maybe_fail()
        if path not in self.nodes:
            raise NoNodeError()
        self.nodes[path] = (value, self.nodes[path][1])
        self.calls.append(("set", path))

    def get(self, path: str):
        self._maybe_fail()
        if path not in self.nodes:
            raise NoNodeError()
        return self.nodes[path]

    def get_children(self, path: str) -> list[str]:
        self._maybe_fail()
        prefix = f"{path}/"
        return [p[len(prefix) :] for p in self.nodes if p.startswith(prefix)]

    # what other clients and the server do

    def remove(self, path: str, fire: bool = True) -> None:
        """The node goes (any client's delete); `fire=False`: its watch event is missed."""
        del self.nodes[path]
        for watch in self.watches.pop(path, []) if fire else ():
            watch(SimpleNamespace(type="DELETED", path=path))

    def add(self, path: str, data: dict, session: int) -> None:
        """Another session's node (an earlier nerve of ours, a sibling)."""
        self.zxid += 1
        self.nodes[path] = (json.dumps(data).encode(), Stat(self.zxid, session))

    def expire(self) -> None:
        """The session is lost: its ephemeral nodes go, without events to this client."""
        for path, (_, stat) in list(self.nodes.items()):
            if stat.ephemeralOwner == self.session:
                self.remove(path, fire=False)
        self.session += 1


class FakeConnection:
    """ZkConnection's surface: the client, connected, the session generation and id."""

    def __init__(self, client: FakeZk):
        self.client = client
        self.connected = True
        self.generation = 0

    def session_id(self) -> int:
        return self.client.session

    def lose_session(self) -> None:
        self.client.expire()
        self.generation += 1


def service(**changes) -> ServiceConfig:
    return nerve_service(instance_id=ME["name"], host=ME["host"], zk_path=ZK_PATH, **changes)


@pytest.fixture
def zk() -> FakeZk:
    return FakeZk()


@pytest.fixture
def conn(zk) -> FakeConnection:
    return FakeConnection(zk)


def reporter(conn: FakeConnection, reconcile_interval: float = 1e9, **changes) -> Reporter:
    """A Reporter on `conn`; by default it never reconciles on its own (a test asks it to), even
    where time.monotonic() is still small (soon after boot)."""
    return Reporter(service(**changes), conn, reconcile_interval=reconcile_interval)


def test_up_registers_once_with_the_payload(zk, conn):
    rep = reporter(conn)
    rep.sync(True)
    rep.sync(True)
    assert zk.calls == [("create", f"{ZK_PATH}/web-1_0000000001")]
    assert rep.node == f"{ZK_PATH}/web-1_0000000001" and rep.registrations == 1
    data, stat = zk.nodes[rep.node]
    assert data == PAYLOAD
    assert stat.ephemeralOwner == zk.session


def test_down_deletes_the_node_once(zk, conn):
    rep = reporter(conn)
    rep.sync(True)
    node = rep.node
    rep.sync(False)
    rep.sync(False)
    assert zk.calls[1:] == [("delete", node)]
    assert rep.node is None and zk.nodes == {}


def test_a_node_deleted_by_someone_else_is_recreated_on_the_next_round(zk, conn):
    rep = reporter(conn)
    rep.sync(True)
    first = rep.node
    zk.remove(first)  # an operator's `delete`: the exists watch fires
    rep.sync(True)
    assert rep.node != first and rep.node in zk.nodes
    assert rep.registrations == 2


def test_a_lost_session_recreates_the_node(zk, conn):
    rep = reporter(conn)
    rep.sync(True)
    first = rep.node
    conn.lose_session()  # the ephemeral node died with the session, no event came
    rep.sync(True)
    assert first not in zk.nodes and rep.node in zk.nodes
    assert zk.nodes[rep.node][1].ephemeralOwner == zk.session


def test_a_missed_deletion_is_found_by_the_reconcile_check(zk, conn):
    rep = reporter(conn, reconcile_interval=0.0)  # check on every round
    rep.sync(True)
    first = rep.node
    zk.remove(first, fire=False)
    rep.sync(True)
    assert rep.node != first and rep.node in zk.nodes


def test_without_reconcile_due_a_missed_deletion_waits_for_recheck(zk, conn):
    rep = reporter(conn)
    rep.sync(True)
    first = rep.node
    rep.sync(True)  # the first round after registering: reconcile is not due
    zk.remove(first, fire=False)
    rep.sync(True)
    assert rep.node == first  # not noticed yet: no event, reconcile not due
    rep.recheck()  # a restarted watcher asks for the check on its next round
    rep.sync(True)
    assert rep.node != first and rep.node in zk.nodes


def test_a_round_while_disconnected_is_a_failure_and_writes_nothing(zk, conn):
    rep = reporter(conn)
    conn.connected = False
    rep.sync(True)
    rep.sync(True)
    assert (rep.failures, rep.failures_total) == (2, 2)
    assert zk.calls == [] and rep.node is None
    conn.connected = True
    rep.sync(True)
    assert rep.failures == 0 and rep.failures_total == 2 and rep.node in zk.nodes


def test_a_failed_call_is_counted_and_retried_on_the_next_round(zk, conn, caplog):
    rep = reporter(conn)
    zk.fail = ConnectionLoss()
    with caplog.at_level(logging.WARNING, "nerve_py.reporter"):
        rep.sync(True)
    assert rep.failures == 1 and rep.node is None
    assert "web: report failed (ConnectionLoss), 1 in a row; will retry" in caplog.text
    rep.sync(True)
    assert rep.failures == 0 and rep.node in zk.nodes


def test_a_denied_access_names_zk_auth(zk, conn, caplog):
    rep = reporter(conn)
    zk.fail = NoAuthError()
    with caplog.at_level(logging.ERROR, "nerve_py.reporter"):
        rep.sync(True)
    assert rep.failures == 1
    assert f"web: ZooKeeper denied access under {ZK_PATH}: zk_auth is missing" in caplog.text


def test_only_our_own_leftovers_are_replaced(zk, conn):
    other_session = zk.session + 1
    mine_plain = f"{ZK_PATH}/web-1_0000000077"
    mine_encoded = f"{ZK_PATH}/{encode_child_name({**ME, 'weight': 5})}0000000078"
    sibling = f"{ZK_PATH}/web-2_0000000079"
    other_port = f"{ZK_PATH}/web-1_0000000080"
    zk.add(mine_plain, ME, other_session)  # an earlier nerve-py of ours, killed with -9
    zk.add(mine_encoded, {**ME, "weight": 5}, other_session)  # an older config of ours
    zk.add(sibling, {**ME, "name": "web-2"}, other_session)
    zk.add(other_port, {**ME, "port": 9090}, other_session)  # same name, another service
    rep = reporter(conn)
    rep.sync(True)
    assert set(zk.nodes) == {sibling, other_port, rep.node}
    assert ("delete", mine_plain) in zk.calls and ("delete", mine_encoded) in zk.calls


def test_a_node_of_our_live_session_is_not_a_leftover(zk, conn):
    """Make-before-break on reload: the old watcher's node is a sibling in the same session."""
    live = f"{ZK_PATH}/web-1_0000000050"
    zk.add(live, ME, zk.session)
    rep = reporter(conn)
    rep.sync(True)
    assert live in zk.nodes and rep.node in zk.nodes and rep.node != live


def test_a_fixed_name_node_left_by_a_predecessor_is_replaced_not_rewritten(zk, conn):
    rep = reporter(conn, node_type="persistent")  # no sequence number: always web-1_
    path = f"{ZK_PATH}/web-1_"
    zk.add(path, {**ME, "weight": 1}, 0)  # a predecessor's, with other data
    old_czxid = zk.nodes[path][1].czxid
    rep.sync(True)
    assert rep.node == path and zk.nodes[path][0] == PAYLOAD
    assert zk.nodes[path][1].czxid > old_czxid  # a new node: watchers cache nodes by name
    assert ("set", path) not in zk.calls


def test_going_down_leaves_a_successors_node_of_the_same_name(zk, conn):
    rep = reporter(conn, node_type="persistent")
    rep.sync(True)
    path = rep.node
    zk.remove(path, fire=False)
    zk.add(path, ME, 0)  # another process registered the same name meanwhile
    successor = zk.nodes[path]
    rep.sync(False)
    assert zk.nodes[path] == successor and rep.node is None


def test_touch_rewrites_a_persistent_node_only(zk, conn):
    persistent = reporter(conn, node_type="persistent", ttl_seconds=30.0)
    persistent.touch()  # nothing registered yet: nothing to touch
    persistent.sync(True)
    persistent.touch()
    assert persistent.touches == 1 and zk.calls[-1] == ("set", persistent.node)
    ephemeral = reporter(FakeConnection(FakeZk()), ttl_seconds=30.0)
    ephemeral.sync(True)
    ephemeral.touch()
    assert ephemeral.touches == 0


def test_a_failed_touch_is_logged_and_the_next_round_recreates(zk, conn, caplog):
    rep = reporter(conn, node_type="persistent", ttl_seconds=30.0, reconcile_interval=0.0)
    rep.sync(True)
    zk.remove(rep.node, fire=False)
    with caplog.at_level(logging.INFO, "nerve_py.reporter"):
        rep.touch()
    assert rep.touches == 0 and "ttl renew: could not touch" in caplog.text
    rep.sync(True)
    assert rep.node in zk.nodes


def test_ttl_applies_to_persistent_node_types_only():
    assert ttl_applies(service(node_type="persistent", ttl_seconds=5.0))
    assert ttl_applies(service(node_type="persistent_sequential", ttl_seconds=5.0))
    assert not ttl_applies(service(node_type="ephemeral_sequential", ttl_seconds=5.0))
    assert not ttl_applies(service(node_type="persistent"))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def limited(conn: FakeConnection, shadow_mode: bool) -> tuple[Reporter, Clock]:
    """A Reporter whose rate_limiting allows one report per second, on a clock the test moves."""
    clock = Clock()
    rep = reporter(conn, rate_limiting=RateLimit(shadow_mode, average_rate=1, max_burst=1))
    rep.limiter = ReportLimiter("web", TokenBucket(1, 1, clock), shadow_mode)
    return rep, clock


def test_rate_limiting_defers_a_report_until_a_token_comes(zk, conn):
    rep, clock = limited(conn, shadow_mode=False)
    rep.sync(True)  # the bucket's one token
    node = rep.node
    rep.sync(False)  # no token left: deferred, the node stays
    assert rep.node == node and node in zk.nodes and rep.limiter.throttled == 1
    clock.now = 1.0
    rep.sync(False)  # the latest state wins once a token is there
    assert rep.node is None and node not in zk.nodes


def test_rate_limiting_in_shadow_mode_reports_anyway(zk, conn):
    rep, _ = limited(conn, shadow_mode=True)
    rep.sync(True)
    rep.sync(False)
    assert rep.node is None and zk.nodes == {} and rep.limiter.throttled == 1


def test_deregister_ignores_rate_limits_and_a_disconnected_client(zk, conn):
    rep, _ = limited(conn, shadow_mode=False)
    rep.sync(True)
    node = rep.node
    conn.connected = False
    rep.deregister()  # nothing to do while disconnected: the session's end removes it
    assert rep.node == node
    conn.connected = True
    rep.deregister()  # shutting down: no token needed
    assert rep.node is None and node not in zk.nodes


def test_deregister_logs_a_failed_delete(zk, conn, caplog):
    rep = reporter(conn)
    rep.sync(True)
    zk.fail = ConnectionLoss()
    with caplog.at_level(logging.WARNING, "nerve_py.reporter"):
        rep.deregister()
    assert f"web: could not delete {rep.node}" in caplog.text


def test_quiet_only_while_sync_would_call_no_zookeeper(zk, conn):
    """The check loop skips `sync` when `quiet`: never with something to write or check."""
    rep = reporter(conn)
    assert rep.quiet(False) and not rep.quiet(True)  # not registered yet: up must register
    rep.sync(True)
    assert rep.quiet(True) and not rep.quiet(False)  # registered: down must delete
    zk.remove(rep.node)  # deleted by someone: the exists watch fired
    assert not rep.quiet(True)
    rep.sync(True)
    assert rep.quiet(True)
    conn.lose_session()
    assert not rep.quiet(True)  # the node died with the session
    rep.sync(True)
    conn.connected = False
    assert not rep.quiet(True) and not rep.quiet(False)  # a round while disconnected counts
    conn.connected = True
    rep.sync(True)
    assert rep.quiet(True)
    rep.recheck()  # the restarted watcher verifies the node: due at once
    assert not rep.quiet(True)


def test_quiet_is_false_when_the_existence_check_is_due(zk, conn):
    rep = reporter(conn, reconcile_interval=0.0)
    rep.sync(True)
    assert not rep.quiet(True)
