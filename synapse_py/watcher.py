"""ZooKeeper watches for one service path. Callbacks only publish onto the reconciler's queue.

A path that does not exist yet, or is deleted later, is waited for (an exists watch: kazoo's
DataWatch, which re-arms itself and survives session expiry) and never dropped. Children are
listed and read asynchronously, each with a one-shot watch whose firing only publishes an event
or sends the next request: kazoo's single callback thread is never blocked waiting for an answer
(its ChildrenWatch recipe lists synchronously on that thread, so one service of 20,000 children
delayed every other service's events). A watch lost with the connection is set again on connect.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import NoNodeError
from kazoo.protocol.states import EventType, KeeperState, WatchedEvent
from kazoo.recipe.watchers import DataWatch
from kazoo.retry import KazooRetry

from .config import ServiceConfig
from .zk_security import ZkSecurity

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

    service: str
    names: tuple[str, ...] | None


@dataclass(frozen=True)
class Connected:
    """A client (re)connected: watchers that could not start yet must start now."""


@dataclass(frozen=True)
class NodeData:
    """The outcome of reading one child: its data, or the exception the read raised."""

    service: str
    name: str
    data: bytes | None
    error: BaseException | None = None


@dataclass(frozen=True)
class NodeChanged:
    """A child's data watch fired: `kind` is "changed", "deleted" or "lost" (the connection
    dropped and the watch with it: the child must be read again once connected)."""

    service: str
    name: str
    kind: str


@dataclass(frozen=True)
class ServiceData:
    """The data of the watched path itself (it may carry generator config: registry_config)."""

    service: str
    data: bytes | None


@dataclass(frozen=True)
class Arm:
    """The path appeared: the consumer must list its children (and watch them)."""

    service: str


class ServiceWatcher:
    """Watches `discovery.path` of one service on a shared client."""

    def __init__(self, service: ServiceConfig, client: KazooClient, events: queue.Queue):
        self.service = service
        self.client = client
        self.events = events
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
            if self._started or self._stopped or not self.client.connected:
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
            result = self.client.get_children_async(self.path, watch=self._on_children_watch)
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
            else:  # connection trouble: list again once connected
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
                result = self.client.get_async(f"{self.path}/{name}", watch=_NodeWatch(self, name))
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


class ZkClients:
    """One kazoo client per ensemble, started in the background and retried forever."""

    def __init__(
        self, session_timeout: float, events: queue.Queue, security: ZkSecurity | None = None
    ):
        self.session_timeout = session_timeout
        self.events = events
        self.security = security or ZkSecurity()
        self._clients: dict[tuple[str, ...], KazooClient] = {}

    def get(self, hosts: tuple[str, ...]) -> KazooClient:
        key = tuple(sorted(hosts))
        if key not in self._clients:
            client = KazooClient(
                hosts=",".join(key),
                timeout=self.session_timeout,
                connection_retry=KazooRetry(max_tries=-1, delay=0.2, max_delay=5),
                command_retry=KazooRetry(max_tries=3, delay=0.1, max_delay=1),
                **self.security.client_options(),
            )
            client.add_listener(lambda s, h=key: self._on_state(h, s))
            client.start_async()
            self._clients[key] = client
        return self._clients[key]

    def stop(self) -> None:
        for client in self._clients.values():
            client.stop()
            client.close()
        self._clients.clear()

    def _on_state(self, hosts: tuple[str, ...], state: str) -> None:
        if state == KazooState.CONNECTED:
            log.info("ZooKeeper %s connected", ",".join(hosts))
            self.events.put(Connected())
        elif getattr(self._clients.get(hosts), "client_state", None) == KeeperState.AUTH_FAILED:
            log.error(
                "ZooKeeper %s refused the zk_auth credential: keeping the last membership",
                ",".join(hosts),
            )
        else:
            log.warning(
                "ZooKeeper %s %s: keeping the last membership", ",".join(hosts), state.lower()
            )
