"""ZooKeeper I/O for one service path. Callbacks only publish onto the reconciler's queue.

A path that does not exist yet, or is deleted later, is waited for (an exists watch, see
zookeeper_path) and never dropped. Every request is asynchronous, each with a one-shot watch
whose firing only publishes an event or sends the next request: kazoo's single callback thread is
never blocked waiting for an answer (its ChildrenWatch recipe lists synchronously on that thread,
so one service of 20,000 children delayed every other service's events), and at start the
requests of every service are in flight together. A listing's new children are all sent at once
(up to READ_WINDOW per service) and their answers published together, one `NodesRead` for the
bulk: a thousand services of twenty members are a thousand events, not twenty thousand. A watch
lost with the connection is set again on connect.

With `watches=False` (zookeeper_poll) no watch is ever set: `poll()` lists the children and reads
the path's data, and `read` reads children, each once per call.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.protocol.states import EventType, WatchedEvent

from .protocol import ServiceData
from .zookeeper_members import Outcome
from .zookeeper_path import PathWatch

if TYPE_CHECKING:
    from ..config import ServiceConfig


log = logging.getLogger(__name__)

# Child reads in flight per service. kazoo answers one packet at a time on one thread (~0.25 ms
# each), so every read in flight is a wait for another service's answers queued behind it: 32
# keeps that under ~10 ms per round trip without slowing a flood (the thread is its limit).
# The answers are published in bulks of at most this many too.
READ_WINDOW = 32
_WATCH_KINDS = {EventType.CHANGED: "changed", EventType.DELETED: "deleted"}
LIST_PAUSE_PER_CHILD = 20e-6  # seconds between back-to-back listings, per child listed


@dataclass(frozen=True)
class Children:
    """A service's current child names (None: the path does not exist)."""

    # the kind synapse_zookeeper_events counts it as (every event class here has one)
    figure: ClassVar[str] = "children"

    service: str
    names: tuple[str, ...] | None


@dataclass(frozen=True)
class Connected:
    """A client (re)connected: watchers that could not start yet must start now."""

    figure: ClassVar[str] = "connected"


@dataclass(frozen=True)
class NodeData:
    """The outcome of reading one child: its data, or the exception the read raised."""

    figure: ClassVar[str] = "node_data"

    service: str
    name: str
    data: bytes | None
    error: BaseException | None = None


@dataclass(frozen=True)
class NodesRead:
    """The outcomes of a bulk of child reads (those sent together, or READ_WINDOW of a flood)."""

    figure: ClassVar[str] = "node_data"

    service: str
    answers: tuple[NodeData, ...]


@dataclass(frozen=True)
class NodeChanged:
    """A child's data watch fired: `kind` is "changed", "deleted" or "lost" (the connection
    dropped and the watch with it: the child must be read again once connected)."""

    figure: ClassVar[str] = "node_changed"

    service: str
    name: str
    kind: str


@dataclass(frozen=True)
class Arm:
    """The path appeared: the consumer must list its children (and watch them)."""

    figure: ClassVar[str] = "path_exists"

    service: str


class ServiceWatcher:
    """Watches (or, with `watches=False`, polls) `discovery.path` of one service on a shared
    client."""

    def __init__(
        self,
        service: ServiceConfig,
        client: KazooClient,
        events: queue.Queue,
        watches: bool = True,
    ):
        self.service = service
        self.client = client
        self.events = events
        self.watches = watches
        self._listing = False  # a children listing is in flight
        self._list_again = False  # ... and its watch fired meanwhile: list once more after it
        self._watch_lost = False  # the connection dropped the children watch: list on connect
        self._stopped = False
        self._path = PathWatch(client, self.path, self._on_path)
        self._to_read: deque[str] = deque()
        self._reading = 0
        self._answers: list[NodeData] = []  # read outcomes not published yet
        self._read_lock = threading.Lock()

    @property
    def path(self) -> str:
        return self.service.discovery.path

    def start(self) -> None:
        """Read the path with a watch (asynchronously); called again on every (re)connect, as
        the connection drops the watch. A change of the path, or its first answer, publishes."""
        if self.watches and not self._stopped and self.client.connected:
            self._path.read()

    def _on_path(self, exists: bool, data: bytes | None) -> None:
        if self._stopped:
            return
        if not exists:
            self.events.put(Children(self.service.name, None))
        else:
            self.events.put(ServiceData(self.service.name, data))
            self.events.put(Arm(self.service.name))

    def poll(self) -> None:
        """List the children and read the path's data once, setting no watch."""
        if self._stopped:
            return
        try:
            result = self.client.get_async(self.path)
        except Exception as e:  # noqa: BLE001 - closed client: the next poll tries again
            log.info("%s: cannot poll %s yet: %s", self.service.name, self.path, e)
            return
        result.rawlink(self._on_service_data)
        self._relist()

    def _on_service_data(self, result) -> None:
        if result.successful() and not self._stopped:
            self.events.put(ServiceData(self.service.name, result.value[0]))

    def arm(self) -> None:
        """The path exists: list its children, with a children watch."""
        self._relist()

    def reconnected(self) -> None:
        """A client (re)connected: list again if the children watch was lost meanwhile."""
        with self._read_lock:
            lost, self._watch_lost = self._watch_lost, False
        if lost:
            self._relist()

    def _relist(self) -> None:
        """List the children asynchronously (never blocking kazoo's callback thread); one
        listing in flight at a time, a watch that fires meanwhile asks for one more after it."""
        with self._read_lock:
            if self._stopped:
                return
            if self._listing:
                self._list_again = True
                return
            self._listing, self._list_again = True, False
        try:
            watch = self._on_children_watch if self.watches else None
            result = self.client.get_children_async(self.path, watch=watch)
        except Exception as e:  # noqa: BLE001 - closed client: the next connect lists again
            with self._read_lock:
                self._listing, self._watch_lost = False, True
            log.info("%s: cannot list %s yet: %s", self.service.name, self.path, e)
            return
        result.rawlink(self._on_listing)

    def _on_children_watch(self, event: WatchedEvent) -> None:
        if self._stopped:
            return
        if event.type == EventType.NONE:  # connection lost: the watch is gone
            with self._read_lock:
                self._watch_lost = True
            return
        self._relist()

    def _on_listing(self, result) -> None:
        with self._read_lock:
            self._listing, again = False, self._list_again
        if self._stopped:
            return
        if not result.successful():
            if isinstance(result.exception, NoNodeError):
                self.events.put(Children(self.service.name, None))  # the exists watch re-arms
            elif self.watches:  # connection trouble: list again once connected
                with self._read_lock:
                    self._watch_lost = True
            return
        names = tuple(result.value)
        self.events.put(Children(self.service.name, names))
        if again:
            # a big listing costs the connection thread ~2 us a child to decode: leave it room
            # for other services' answers before the next one
            delay = len(names) * LIST_PAUSE_PER_CHILD
            if delay < 0.001:
                self._relist()
            else:
                timer = threading.Timer(delay, self._relist)
                timer.daemon = True
                timer.start()

    def read(self, names: Iterable[str]) -> None:
        """Read children asynchronously, each with a data watch; every outcome is published as
        `NodeData`, every watch that fires as `NodeChanged`. At most READ_WINDOW in flight."""
        with self._read_lock:
            self._to_read.extend(names)
        self._pump()

    def _pump(self) -> None:
        """Send what the window allows; one callback per bulk sent together, on its last read:
        ZooKeeper answers a session's requests in order and kazoo completes them in that order,
        so when the last is answered the others are (kazoo's callback thread then runs a
        thousand callbacks at the initial sync of 20,000 nodes, not twenty thousand)."""
        while True:
            with self._read_lock:
                room = READ_WINDOW - self._reading
                if self._stopped or not self._to_read or room <= 0:
                    return
                names = [self._to_read.popleft() for _ in range(min(room, len(self._to_read)))]
                self._reading += len(names)
            sent = []
            for name in names:
                try:
                    watch = _NodeWatch(self, name) if self.watches else None
                    sent.append((name, self.client.get_async(f"{self.path}/{name}", watch=watch)))
                except Exception as e:  # noqa: BLE001 - reported like any failed read
                    self._done(name, None, e)
            if sent:
                sent[-1][1].rawlink(lambda _, bulk=sent: self._on_bulk(bulk))

    def _on_bulk(self, bulk: list) -> None:
        answered: list = []
        waiting: list = []
        for name, result in bulk:
            (answered if result.ready() else waiting).append((name, result))
        for name, result in waiting:  # not expected (see _pump): each is then waited for alone
            result.rawlink(lambda r, n=name: self._on_read(n, r))
        for name, result in answered:
            self._outcome(name, result)
        self._pump()

    def _on_read(self, name: str, result) -> None:
        self._outcome(name, result)
        self._pump()

    def _outcome(self, name: str, result) -> None:
        if result.successful():
            self._done(name, result.value[0], None)
        else:
            self._done(name, None, result.exception)

    def _done(self, name: str, data: bytes | None, error: BaseException | None) -> None:
        """Keep the outcome; publish the bulk once it is all answered (or READ_WINDOW long)."""
        with self._read_lock:
            self._reading -= 1
            self._answers.append(NodeData(self.service.name, name, data, error))
            if self._reading and len(self._answers) < READ_WINDOW:
                return
            answers, self._answers = tuple(self._answers), []
        if not self._stopped:
            self.events.put(NodesRead(self.service.name, answers))

    def stop(self) -> None:
        self._stopped = True
        self._path.stopped = True
        with self._read_lock:
            self._to_read.clear()


class _NodeWatch:
    """A child's data watch; equal for the same child, so kazoo keeps one however often read."""

    __slots__ = ("watcher", "name")

    def __init__(self, watcher: ServiceWatcher, name: str):
        self.watcher, self.name = watcher, name

    def __call__(self, event: WatchedEvent) -> None:
        if not self.watcher._stopped:
            kind = _WATCH_KINDS.get(event.type, "lost")
            self.watcher.events.put(NodeChanged(self.watcher.service.name, self.name, kind))

    def __hash__(self) -> int:
        return hash((id(self.watcher), self.name))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _NodeWatch)
            and other.watcher is self.watcher
            and other.name == self.name
        )


def read_nodes(
    client: KazooClient, path: str, names: Iterable[str], timeout: float
) -> list[Outcome]:
    """Read children of `path` in bulk, blocking: every read sent at once (no watch), then the
    answers collected, at most `timeout` in all. A read not answered by then has kazoo's timeout
    error as its outcome (connection trouble: the node is left out of a one-shot read)."""
    deadline = time.monotonic() + timeout
    sent = [(name, client.get_async(f"{path}/{name}")) for name in names]
    answers: list[Outcome] = []
    for name, result in sent:
        try:
            data, error = result.get(timeout=max(0.0, deadline - time.monotonic()))[0], None
        except Exception as e:  # noqa: BLE001 - every outcome is the node's, judged by the caller
            data, error = None, e
        answers.append((name, data, error))
    return answers
