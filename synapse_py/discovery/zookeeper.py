"""`zookeeper`: a service's backends are the children of `path`, followed with watches.

The I/O is `ServiceWatcher` (zookeeper_watch), the node cache `ServiceMembers`
(zookeeper_members); this class ties them on the reconciler's thread. A service is ready once
its first complete read succeeded; after that whenever no read is in flight. A service in a
flood (FLOOD_READS reads outstanding) reports its listings as MEMBERS, not LISTING, so that its
bursts do not hold back everyone else's changes (the quiet time waits for LISTING only).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from kazoo.exceptions import NoNodeError

from ..backend import Backend
from .protocol import DiscoveryContext, Found, Touched, register
from .zookeeper_clients import blocking_clients, daemon_clients
from .zookeeper_members import ServiceMembers
from .zookeeper_watch import (
    Arm,
    Children,
    Connected,
    NodeChanged,
    NodesRead,
    ServiceWatcher,
    read_nodes,
)

if TYPE_CHECKING:
    from ..config import ServiceConfig

log = logging.getLogger(__name__)

READ_RETRY_INTERVAL = 1.0  # seconds before reads that failed for connection reasons are resent
FLOOD_READS = 256  # a service with more reads outstanding is in a flood (see the docstring)

ZOOKEEPER_KEYS: Mapping[str, Any] = {
    "hosts": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
    "path": {"type": "string", "pattern": "^/", "description": "must be absolute (start with /)"},
}


@dataclass(frozen=True)
class ResendReads:
    """A service's reads failed for connection reasons a while ago: send them again."""

    service: str


@register("zookeeper")
class ZookeeperDiscovery:
    """One service's children of `discovery.path`, with a children watch and data watches."""

    keys: ClassVar[Mapping[str, Any]] = ZOOKEEPER_KEYS
    required: ClassVar[tuple[str, ...]] = ("hosts", "path")
    watches: ClassVar[bool] = True

    def __init__(self, service: ServiceConfig, context: DiscoveryContext):
        self.service = service
        self.events = context.events
        self.members = ServiceMembers(service)
        client = daemon_clients(context).get(service.discovery.hosts)
        self.watcher = ServiceWatcher(service, client, context.events, watches=self.watches)
        self._listed = False  # a listing (or "no such path") was seen
        self._read_once = False  # the first complete read is done
        self._retry_timer: threading.Timer | None = None

    @property
    def invalid(self) -> int:
        return self.members.invalid

    @property
    def reads(self) -> int:
        return self.members.reads

    def start(self) -> None:
        self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop()
        if self._retry_timer is not None:
            self._retry_timer.cancel()

    def healthy(self) -> bool:
        return bool(self.watcher.client.connected)

    def handle(self, event: object) -> Touched:
        if isinstance(event, Children):
            self._listed = True
            self._read(self.members.set_names(event.names or ()))
            return self._listing_change()
        if isinstance(event, NodesRead):
            for answer in event.answers:
                self.members.result(answer.name, answer.data, answer.error)
            if self.members.retry:
                self._schedule_resend()
            return Touched.MEMBERS
        if isinstance(event, NodeChanged):
            if self.members.changed(event.name, event.kind):
                self._read([event.name])
            return self._listing_change()
        return self._bookkeeping(event)

    def _bookkeeping(self, event: object) -> Touched:
        if isinstance(event, Arm):
            self.watcher.arm()
        elif isinstance(event, Connected):
            self.watcher.start()
            self.watcher.reconnected()
            self._resend()
        elif isinstance(event, ResendReads):
            self._retry_timer = None
            self._resend()
        return Touched.NOTHING

    def _listing_change(self) -> Touched:
        flood = len(self.members.inflight) >= FLOOD_READS
        return Touched.MEMBERS if flood else Touched.LISTING

    def ready(self) -> bool:
        if not self._listed:
            return False
        if not self._read_once:
            if not (self.members.complete and not self.members.retry):
                return False
            self._read_once = True
            return True
        return self.members.settled

    def backends(self) -> tuple[Backend, ...]:
        return self.members.current()

    def _read(self, names: Iterable[str]) -> None:
        names = list(names)
        if names:
            self.members.reading(names)
            self.watcher.read(names)

    def _resend(self) -> None:
        """Resend reads that failed for connection reasons, and read children whose watch was
        lost; once connected, else again in READ_RETRY_INTERVAL."""
        if self.watcher.client.connected:
            self.members.take_retries()
            self._read(self.members.wanted())
        elif self.members.retry:
            self._schedule_resend()

    def _schedule_resend(self) -> None:
        if self._retry_timer is None:
            self._retry_timer = threading.Timer(
                READ_RETRY_INTERVAL, self.events.put, (ResendReads(self.service.name),)
            )
            self._retry_timer.daemon = True
            self._retry_timer.start()

    @classmethod
    def settings(cls, raw: Mapping[str, Any]) -> Any:
        return None

    @classmethod
    def snapshot(cls, service: ServiceConfig, context: DiscoveryContext, timeout: float) -> Found:
        """Read the children and the path's data once, the children all at once (the CLI)."""
        client = blocking_clients(context).get(service.discovery.hosts, timeout)
        path = service.discovery.path
        try:
            names = tuple(client.get_children(path))
            data = client.get(path)[0]
        except NoNodeError:
            names, data = (), None
        found = ServiceMembers(service).backends(
            names, lambda wanted: read_nodes(client, path, wanted, timeout)
        )
        return found, data
