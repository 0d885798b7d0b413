"""From a service's child names to its validated backends (the reader side, with a cache).

`ServiceMembers` does no I/O: the reconciler tells it the listing (`set_names`), asks which
children to read (`wanted`), and hands back each read's outcome (`result`). A child is read once
and then again only when its data watch fires (`changed`): a node changed in place, or deleted and
re-created under the same name, is seen as fast as a join. A path-encoded name carries its data
and is never read. A node that fails validation, or cannot be read (no ACL for us), is skipped
whole, logged and counted; a read that failed for connection reasons is retried, and the node's
last value stays in force meanwhile.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING

from kazoo.exceptions import (
    ConnectionLoss,
    NoNodeError,
    OperationTimeoutError,
    SessionExpiredError,
    ZookeeperError,
)

from ..backend import (
    Backend,
    InvalidNode,
    backend_from_registration,
    decode_node,
    name_payload,
)

if TYPE_CHECKING:
    from ..config import ServiceConfig

log = logging.getLogger(__name__)

# the outcome of reading one child: its name, its data or the exception the read raised
Outcome = tuple[str, bytes | None, BaseException | None]
BulkReader = Callable[[list[str]], Iterable[Outcome]]  # child names -> every read's outcome
LOGGED_PER_SERVICE = 20  # invalid or unreadable nodes logged at warning level; the rest at debug
_SEQUENCE_RE = re.compile(r"_([0-9]+)$")


class ServiceMembers:
    """Decodes and caches one service's children (single owner: the reconciler's thread)."""

    def __init__(self, service: ServiceConfig):
        self.service = service
        self._names: frozenset[str] = frozenset()
        self._order: tuple[str, ...] = ()  # the listing, in ZooKeeper's order (Ruby's)
        self._from_name: set[str] = set()  # path-encoded children decoded from their name
        self._cache: dict[str, Backend | None] = {}  # child name -> backend (None: skipped)
        self._digests: dict[str, bytes] = {}  # child name -> digest of the data last decoded
        self._stale: set[str] = set()  # data watch fired: read again; the old value stays
        self._deleted: set[str] = set()  # deletion seen; the next listing says if it came back
        self.inflight: set[str] = set()  # reads sent, no answer yet
        self.retry: set[str] = set()  # reads to send again (connection trouble, a race)
        self.reads = 0
        self.invalid = 0  # nodes skipped: failed validation or cannot be read
        self._logged = 0
        self._conflicts: set[frozenset[str]] = set()  # same host:port from several nodes, logged

    # -- the listing and the reads -------------------------------------------------------

    def set_names(self, names: Iterable[str]) -> list[str]:
        """The service's children are now `names` (in ZooKeeper's order): forget the others;
        the names to read.

        The cost is in what changed (a listing of 20,000 children that adds one reads one),
        plus building the set of names.
        """
        self._order = tuple(names)
        listed = frozenset(self._order)
        self._forget(self._names - listed)
        added = listed - self._names
        back = self._deleted & listed  # deleted, then listed again: re-created under its name
        self._deleted.clear()
        self._names = listed
        to_read = []
        for name in added | back:
            payload = name_payload(name) if name.startswith("base64_") else None
            if payload is not None:  # Ruby: the name wins; its data is never read
                self._from_name.add(name)
                self._cache[name] = self._checked(
                    name, partial(backend_from_registration, payload, name)
                )
            elif name in back or name not in self._cache:
                self._stale.add(name)
                if name not in self.inflight:
                    to_read.append(name)
        return sorted(to_read)

    def _forget(self, names: Iterable[str]) -> None:
        for name in names:
            self._cache.pop(name, None)
            self._digests.pop(name, None)
            self._stale.discard(name)
            self.retry.discard(name)
            self._from_name.discard(name)

    def expire(self) -> None:
        """Every listed child read from ZooKeeper must be read again (zookeeper_poll: no data
        watch tells when one changed); the old values stay in force meanwhile."""
        self._stale.update(n for n in self._names if n in self._cache and n not in self._from_name)

    def wanted(self) -> list[str]:
        """Listed children that need a read now (unknown or stale, not in flight or retrying)."""
        return sorted(
            n
            for n in self._names
            if (n not in self._cache or n in self._stale)
            and n not in self.inflight
            and n not in self.retry
        )

    def reading(self, names: Iterable[str]) -> None:
        """Reads of `names` were sent."""
        for name in names:
            self.inflight.add(name)
            self.reads += 1

    def result(self, name: str, data: bytes | None, error: BaseException | None) -> None:
        """The outcome of one read: data, or the exception it raised."""
        self.inflight.discard(name)
        if name not in self._names:
            return  # gone from the listing meanwhile
        if error is None:
            self._stale.discard(name)
            if not self._same_data(name, data):
                self._cache[name] = self._checked(name, partial(decode_node, name, data))
        elif isinstance(error, NoNodeError):  # deleted: the listing that follows tells more
            self._cache.pop(name, None)
            self._stale.discard(name)
            self._deleted.add(name)
        elif isinstance(error, ZookeeperError) and not _transient(error):  # NoAuth, ...
            self._stale.discard(name)
            self._skip(name, f"cannot be read: {type(error).__name__}")
            self._cache[name] = None
            self._digests.pop(name, None)
        else:  # connection loss, session expiry, timeout: read again; the old value stays
            self.retry.add(name)

    def _same_data(self, name: str, data: bytes | None) -> bool:
        """The child was decoded from these very bytes already (a poll reads every child again):
        its backend, or its skip, stands; a bad node is not counted and logged at every poll."""
        digest = hashlib.blake2b(data or b"", digest_size=16).digest()
        same = name in self._cache and self._digests.get(name) == digest
        self._digests[name] = digest
        return same

    def changed(self, name: str, kind: str) -> bool:
        """The child's data watch fired: `kind` is "changed", "deleted" or "lost" (the
        connection dropped, the watch with it). True if the child must be read now.

        A deleted child is left to the listing that follows the deletion (as a leave always
        is, so that several leaves are seen together): gone, or back under the same name and
        read again. A lost watch is read on reconnect.
        """
        if name not in self._names or name in self._from_name:
            return False
        if kind == "deleted":
            self._deleted.add(name)
            return False
        self._stale.add(name)
        return kind == "changed" and name not in self.inflight

    def take_retries(self) -> list[str]:
        """The reads to send again now."""
        names, self.retry = sorted(self.retry & self._names), set()
        return names

    @property
    def settled(self) -> bool:
        """No read is in flight (a retry may still be due)."""
        return not self.inflight

    @property
    def complete(self) -> bool:
        """Every listed child has been read at least once (or skipped for good)."""
        return self.settled and self._names <= self._cache.keys()

    # -- the backends ----------------------------------------------------------------------

    def current(self) -> tuple[Backend, ...]:
        """Validated backends of the listed children, in listing order, one per host:port.

        Of several nodes for one host:port, the newest registration wins (the highest sequence
        number: nerve's nodes are sequential, then the child name that sorts last), in the place
        of the first one listed. Ruby keeps the first listed of those with the same host, port
        and name, but ZooKeeper's listing order is arbitrary (see docs/synapse.md).
        """
        found: dict[str, tuple[tuple[int, str], Backend]] = {}
        clashes: dict[str, list[str]] = {}
        for name in self._order:
            backend = self._cache.get(name)
            if backend is None:
                continue
            rank = (_sequence(name), name)
            if backend.key in found:
                clashes.setdefault(backend.key, [found[backend.key][0][1]]).append(name)
                if rank < found[backend.key][0]:
                    continue
            found[backend.key] = (rank, backend)  # a dict keeps the first one's place
        for key, names in clashes.items():
            self._log_clash(key, names, found[key][1].node)
        return tuple(b for _, b in found.values())

    def backends(self, names: tuple[str, ...], read: BulkReader) -> tuple[Backend, ...]:
        """Blocking form (the CLI): list `names`, read what is needed with one call of `read`
        (all at once), decode."""
        wanted = self.set_names(names)
        self.reading(wanted)
        for name, data, error in read(wanted):
            self.result(name, data, error)
        return self.current()

    def _checked(self, name: str, decode: Callable[[], Backend]) -> Backend | None:
        """The decoded node, with the service's port override (Ruby applies it on discovery)."""
        try:
            backend = decode()
        except InvalidNode as e:
            self._skip(name, str(e))
            return None
        override = self.service.port_override
        return backend if override is None else backend.with_port(override)

    def _skip(self, name: str, reason: str) -> None:
        """Count and log a skipped node (bounded: a flood of them logs a summary)."""
        self.invalid += 1
        self._logged += 1
        level = logging.WARNING if self._logged <= LOGGED_PER_SERVICE else logging.DEBUG
        log.log(level, "%s: skipping invalid node %r: %s", self.service.name, name[:80], reason)
        if self._logged == LOGGED_PER_SERVICE:
            log.warning(
                "%s: %d invalid nodes logged; further ones are logged at debug level and "
                "counted in synapse_invalid_nodes_skipped",
                self.service.name,
                LOGGED_PER_SERVICE,
            )

    def _log_clash(self, key: str, names: list[str], winner: str) -> None:
        seen = frozenset(names)
        if seen in self._conflicts:
            return
        self._conflicts.add(seen)
        if len(self._conflicts) > 1000:  # bounded: forget old ones
            self._conflicts = {seen}
        log.warning(
            "%s: %d nodes register %s (%s); using %s, the newest (highest sequence number)",
            self.service.name,
            len(names),
            key,
            ", ".join(sorted(n[:80] for n in names)),
            winner[:80],
        )


def _sequence(name: str) -> int:
    match = _SEQUENCE_RE.search(name)
    return int(match.group(1)) if match else -1


def _transient(error: ZookeeperError) -> bool:
    """Errors worth a retry (the connection, not the node)."""
    return isinstance(error, ConnectionLoss | SessionExpiredError | OperationTimeoutError)
