"""ZooKeeper I/O for one service path. Callbacks only publish onto the reconciler's queue.

A path that does not exist yet, or is deleted later, is waited for (an exists watch: kazoo's
DataWatch, which re-arms itself and survives session expiry) and never dropped. Children are
listed and read asynchronously, each with a one-shot watch whose firing only publishes an event
or sends the next request: kazoo's single callback thread is never blocked waiting for an answer
(its ChildrenWatch recipe lists synchronously on that thread, so one service of 20,000 children
delayed every other service's events). A watch lost with the connection is set again on connect.

With `watches=False` (zookeeper_poll) no watch is ever set: `poll()` lists the children and reads
the path's data, and `read` reads children, each once per call.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.protocol.states import EventType, WatchedEvent
from kazoo.recipe.watchers import DataWatch

from .protocol import ServiceData

if TYPE_CHECKING:
    from ..config import ServiceConfig


log = logging.getLogger(__name__)

# Child reads in flight per service. kazoo answers one packet at a time on one thread (~0.25 ms
# each), so every read in flight is a wait for another service's answers queued behind it: 32
# keeps that under ~10 ms per round trip without slowing a flood (the thread is its limit).
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
        self._started = False
        self._lock = threading.Lock()
        self._to_read: deque[str] = deque()
        self._reading = 0
        self._read_lock = threading.Lock()

    @property
    def path(self) -> str:
        return self.service.discovery.path

    def start(self) -> None:
        """Set the exists watch; until ZooKeeper answers, retried on every (re)connect."""
        with self._lock:
            if not self.watches or self._started or self._stopped or not self.client.connected:
                return
            try:
                DataWatch(self.client, self.path, self._on_exists)
                self._started = True
            except Exception as e:  # noqa: BLE001 - connection trouble: the next connect retries
                log.info("%s: cannot watch %s yet: %s", self.service.name, self.path, e)

    def _on_exists(self, data, stat, *_) -> bool | None:
        if self._stopped:
            return False  # tells kazoo to drop this watch
        if stat is None:
            self.events.put(Children(self.service.name, None))
        else:
            self.events.put(ServiceData(self.service.name, data))
            self.events.put(Arm(self.service.name))
        return None

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
        while True:
            with self._read_lock:
                if self._stopped or not self._to_read or self._reading >= READ_WINDOW:
                    return
                name = self._to_read.popleft()
                self._reading += 1
            try:
                watch = _NodeWatch(self, name) if self.watches else None
                result = self.client.get_async(f"{self.path}/{name}", watch=watch)
            except Exception as e:  # noqa: BLE001 - reported like any failed read
                self._done(name, None, e)
                continue
            result.rawlink(lambda r, n=name: self._on_read(n, r))

    def _on_read(self, name: str, result) -> None:
        if result.successful():
            self._done(name, result.value[0], None)
        else:
            self._done(name, None, result.exception)
        self._pump()

    def _done(self, name: str, data: bytes | None, error: BaseException | None) -> None:
        with self._read_lock:
            self._reading -= 1
        if not self._stopped:
            self.events.put(NodeData(self.service.name, name, data, error))

    def stop(self) -> None:
        self._stopped = True
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
