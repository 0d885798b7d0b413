"""The service path itself, watched asynchronously: does it exist, and what data does it hold.

kazoo's DataWatch reads synchronously: at start on the caller's thread (a thousand services
started one blocking round trip after another, on the reconciler's thread) and at every change
on kazoo's one callback thread. Here every read is a `get_async` (or, while the path does not
exist, an `exists_async`) with a watch, and its answer only calls `seen`: the reads of every
service at start are in flight together. kazoo drops every watch with the connection, so the
owner calls `read` again on each (re)connect; an unchanged path is not reported twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.protocol.states import EventType, WatchedEvent

log = logging.getLogger(__name__)

# seen(exists, data): the path's state changed (or is reported for the first time)
Seen = Callable[[bool, bytes | None], None]
_UNSEEN = object()  # no answer yet: the first one is always reported


class PathWatch:
    """Reports the path's existence and data whenever they change (its `mzxid`)."""

    def __init__(self, client: KazooClient, path: str, seen: Seen):
        self.client, self.path, self.seen = client, path, seen
        self.stopped = False
        self._version: object = _UNSEEN  # the mzxid last reported; None: no such path

    def read(self) -> None:
        """Read the path's data with a watch; where it is missing, watch for its creation."""
        if self.stopped:
            return
        try:
            self.client.get_async(self.path, watch=self._on_event).rawlink(self._on_get)
        except Exception as e:  # noqa: BLE001 - closed client: the next connect reads again
            log.info("cannot watch %s yet: %s", self.path, e)

    def _on_get(self, result) -> None:
        if result.successful():
            data, stat = result.value
            self._report(stat.mzxid, True, data)
        elif isinstance(result.exception, NoNodeError):
            self._watch_creation()
        # else connection trouble: the next connect reads again

    def _watch_creation(self) -> None:
        if self.stopped:
            return
        try:
            self.client.exists_async(self.path, watch=self._on_event).rawlink(self._on_exists)
        except Exception as e:  # noqa: BLE001 - as in read
            log.info("cannot watch %s yet: %s", self.path, e)

    def _on_exists(self, result) -> None:
        if not result.successful():
            return
        if result.value is None:
            self._report(None, False, None)
        else:  # created between the read and the exists: read it
            self.read()

    def _on_event(self, event: WatchedEvent) -> None:
        if event.type != EventType.NONE:  # NONE: the connection dropped the watch; reconnect reads
            self.read()

    def _report(self, version: int | None, exists: bool, data: bytes | None) -> None:
        # answers (and so these calls) come in request order on kazoo's one callback thread
        if self.stopped or version == self._version:
            return
        self._version = version
        self.seen(exists, data)
