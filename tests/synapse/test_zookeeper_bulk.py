"""The zookeeper method's bulk reads, in process: a listing's new children are all sent at once and
their answers published as one event; the CLI's snapshot read collects its answers within a bound;
the service path is watched without a blocking read. The client is a small fake that records the
requests and answers them when the test says (pure logic; tests/integration has the real thing).
"""

from __future__ import annotations

import json
import queue
import socket

from kazoo.exceptions import ConnectionLoss, NoAuthError, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import EventType, KeeperState, WatchedEvent

from synapse_py.config import DiscoveryConfig, ServiceConfig
from synapse_py.discovery.protocol import ServiceData
from synapse_py.discovery.zookeeper_handler import PollingHandler
from synapse_py.discovery.zookeeper_members import ServiceMembers
from synapse_py.discovery.zookeeper_path import PathWatch
from synapse_py.discovery.zookeeper_watch import (
    READ_WINDOW,
    Arm,
    Children,
    NodesRead,
    ServiceWatcher,
    read_nodes,
)

SERVICE = ServiceConfig("web", DiscoveryConfig("zookeeper", ("z:1",), "/web"))


class Stat:
    def __init__(self, mzxid: int):
        self.mzxid = mzxid


class Result:
    """kazoo's IAsyncResult, answered by the test (`answer`) or never."""

    def __init__(self):
        self.value, self.exception, self._done, self._links = None, None, False, []

    def rawlink(self, callback) -> None:
        self._links.append(callback)
        if self._done:
            callback(self)

    def successful(self) -> bool:
        return self._done and self.exception is None

    def ready(self) -> bool:
        return self._done

    def get(self, timeout=None):
        if not self._done:
            raise KazooTimeoutError("no answer")
        if self.exception is not None:
            raise self.exception
        return self.value

    def answer(self, value=None, exception: BaseException | None = None) -> None:
        self.value, self.exception, self._done = value, exception, True
        for callback in self._links:
            callback(self)


class Client:
    """Records every request: (kind, path, watch, result)."""

    connected = True

    def __init__(self):
        self.sent: list[tuple[str, str, object, Result]] = []

    def _send(self, kind: str, path: str, watch) -> Result:
        result = Result()
        self.sent.append((kind, path, watch, result))
        return result

    def get_async(self, path, watch=None):
        return self._send("get", path, watch)

    def exists_async(self, path, watch=None):
        return self._send("exists", path, watch)

    def get_children_async(self, path, watch=None):
        return self._send("children", path, watch)

    def pending(self, kind: str = "get") -> list[tuple[str, Result]]:
        return [(p, r) for k, p, _, r in self.sent if k == kind and not r._done]


def data(port: int) -> bytes:
    return json.dumps({"host": "10.0.0.1", "port": port, "name": f"i-{port}"}).encode()


def drain(events: queue.Queue) -> list:
    found = []
    while not events.empty():
        found.append(events.get_nowait())
    return found


def test_a_listings_new_children_are_sent_at_once_and_answered_as_one_event():
    client, events = Client(), queue.Queue()
    watcher = ServiceWatcher(SERVICE, client, events)
    watcher.read(["a_1", "b_2", "c_3", "d_4"])
    sent = client.pending()
    assert [p for p, _ in sent] == ["/web/a_1", "/web/b_2", "/web/c_3", "/web/d_4"]
    answers = [
        ((data(1), Stat(1)), None),
        (None, NoNodeError()),  # vanished meanwhile
        ((b"{not json", Stat(3)), None),
        (None, ConnectionLoss()),
    ]
    for (_, result), (value, error) in zip(sent[:3], answers[:3], strict=True):
        result.answer(value, error)
        assert events.empty()  # not all answered yet: nothing published
    sent[3][1].answer(*answers[3])
    [bulk] = drain(events)
    assert isinstance(bulk, NodesRead) and bulk.service == "web"
    assert [(a.name, a.data, type(a.error)) for a in bulk.answers] == [
        ("a_1", data(1), type(None)),
        ("b_2", None, NoNodeError),
        ("c_3", b"{not json", type(None)),
        ("d_4", None, ConnectionLoss),
    ]


def test_a_flood_is_read_within_the_window_and_published_in_bulks_of_that_size():
    client, events = Client(), queue.Queue()
    watcher = ServiceWatcher(SERVICE, client, events)
    names = [f"n_{i}" for i in range(READ_WINDOW * 2 + 5)]
    watcher.read(names)
    published: list[NodesRead] = []
    while client.pending():
        assert len(client.pending()) <= READ_WINDOW
        client.pending()[0][1].answer((data(1), Stat(1)))
        published += drain(events)
    assert [len(e.answers) for e in published] == [READ_WINDOW, READ_WINDOW, 5]
    assert [a.name for e in published for a in e.answers] == names


def test_a_bulk_answered_out_of_order_waits_for_each_read():
    """kazoo completes a session's reads in order, so the bulk's one callback is on its last
    read; were the last answered first, the others are waited for one by one, none lost."""
    client, events = Client(), queue.Queue()
    watcher = ServiceWatcher(SERVICE, client, events)
    watcher.read(["a_1", "b_2", "c_3"])
    sent = client.pending()
    sent[2][1].answer((data(3), Stat(1)))
    assert events.empty()
    sent[0][1].answer((data(1), Stat(1)))
    assert events.empty()
    sent[1][1].answer((data(2), Stat(1)))
    (bulk,) = drain(events)
    assert sorted(a.name for a in bulk.answers) == ["a_1", "b_2", "c_3"]
    assert not client.pending()


def test_the_outcomes_of_a_bulk_are_judged_per_node_as_single_reads_are():
    """Through the discovery's handling: a good node joins, one that vanished is absent, a bad
    one and an unreadable one are skipped and counted, one lost to the connection is retried."""
    members = ServiceMembers(SERVICE)
    names = ["a_1", "b_2", "c_3", "d_4", "e_5"]
    members.reading(members.set_names(names))
    outcomes = [
        ("a_1", data(1), None),
        ("b_2", None, NoNodeError()),
        ("c_3", b"{not json", None),
        ("d_4", None, NoAuthError()),
        ("e_5", None, ConnectionLoss()),
    ]
    for outcome in outcomes:
        members.result(*outcome)
    assert [b.port for b in members.current()] == [1]
    assert members.invalid == 2 and members.retry == {"e_5"}
    assert not members.inflight


def test_the_snapshot_read_sends_everything_before_waiting_and_bounds_the_wait():
    client, sent_when_waited = Client(), []

    class Answered(Result):
        def get(self, timeout=None):
            sent_when_waited.append(len(client.sent))
            return super().get(timeout)

    def get_async(path, watch=None):
        result = Answered()
        client.sent.append(("get", path, watch, result))
        if not path.endswith("slow_3"):  # answered at once; slow_3 never is
            result.answer((data(int(path[-1])), Stat(1)))
        return result

    client.get_async = get_async  # type: ignore[method-assign]
    outcomes = read_nodes(client, "/web", ["a_1", "b_2", "slow_3"], timeout=0.05)
    assert sent_when_waited == [3, 3, 3]
    assert [(n, d) for n, d, _ in outcomes[:2]] == [("a_1", data(1)), ("b_2", data(2))]
    assert outcomes[2][0] == "slow_3" and isinstance(outcomes[2][2], KazooTimeoutError)
    found = ServiceMembers(SERVICE).backends(("a_1", "b_2", "slow_3"), lambda wanted: outcomes)
    assert [b.port for b in found] == [1, 2]  # the unanswered node is left out, not an error


def test_the_service_path_is_read_without_blocking_and_reported_once_per_change():
    client, seen = Client(), []
    watch = PathWatch(client, "/web", lambda exists, d: seen.append((exists, d)))
    watch.read()
    [(kind, path, on_event, result)] = client.sent
    assert (kind, path) == ("get", "/web") and on_event is not None
    result.answer((b"cfg", Stat(7)))
    watch.read()  # a reconnect reads again: the same version is not reported twice
    client.sent[-1][3].answer((b"cfg", Stat(7)))
    assert seen == [(True, b"cfg")]
    on_event(WatchedEvent(EventType.DELETED, KeeperState.CONNECTED, "/web"))
    client.sent[-1][3].answer(None, NoNodeError())
    assert client.sent[-1][0] == "exists"  # gone: watch for its creation
    client.sent[-1][3].answer(None)
    assert seen[-1] == (False, None)
    on_event(WatchedEvent(EventType.NONE, KeeperState.CONNECTING, None))
    assert client.sent[-1][0] == "exists"  # a lost connection reads nothing: reconnect does


def test_the_watcher_publishes_the_paths_data_and_arms_or_says_it_is_missing():
    client, events = Client(), queue.Queue()
    watcher = ServiceWatcher(SERVICE, client, events)
    watcher.start()
    client.sent[0][3].answer(None, NoNodeError())
    client.sent[1][3].answer(None)
    assert drain(events) == [Children("web", None)]
    client.sent[1][2](WatchedEvent(EventType.CREATED, KeeperState.CONNECTED, "/web"))
    client.sent[-1][3].answer((b"", Stat(9)))
    assert drain(events) == [ServiceData("web", b""), Arm("web")]


def test_the_polling_handler_reports_readable_and_writable_as_kazoos_own():
    handler = PollingHandler()
    a, b = socket.socketpair()
    with a, b:
        assert handler.select([a], [], [], 0) == ([], [], [])
        assert handler.select([], [a], [], 0) == ([], [a], [])
        b.send(b"x")
        assert handler.select([a, b.fileno()], [a], [], 0.01) == ([a], [], [])
        b.close()
        assert handler.select([a], [], [], 0.01) == ([a], [], [])  # hang-up: readable
