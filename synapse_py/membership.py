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

import logging
import re
from collections.abc import Callable, Iterable

from kazoo.exceptions import (
    ConnectionLoss,
    NoNodeError,
    OperationTimeoutError,
    SessionExpiredError,
    ZookeeperError,
)

from .backend import Backend, InvalidNode, decode_node, matches_label_filters
from .config import ServiceConfig

log = logging.getLogger(__name__)

Reader = Callable[[str], bytes]  # full path -> node data; raises NoNodeError when gone
LOGGED_PER_SERVICE = 20  # invalid or unreadable nodes logged at warning level; the rest at debug
_SEQUENCE_RE = re.compile(r"_([0-9]+)$")


class ServiceMembers:
    """Decodes and caches one service's children (single owner: the reconciler's thread)."""

    def __init__(self, service: ServiceConfig):
        self.service = service
        self._names: frozenset[str] = frozenset()
        self._cache: dict[str, Backend | None] = {}  # child name -> backend (None: skipped)
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
        """The service's children are now `names`: forget the others; the names to read.

        The cost is in what changed (a listing of 20,000 children that adds one reads one),
        plus building the set of names.
        """
        listed = frozenset(names)
        for name in self._names - listed:
            self._cache.pop(name, None)
            self._stale.discard(name)
            self.retry.discard(name)
        added = listed - self._names
        back = self._deleted & listed  # deleted, then listed again: re-created under its name
        self._deleted.clear()
        self._names = listed
        to_read = []
        for name in added | back:
            if name.startswith("base64_"):
                self._cache[name] = self._checked(name, None)
            elif name in back or name not in self._cache:
                self._stale.add(name)
                if name not in self.inflight:
                    to_read.append(name)
        return sorted(to_read)

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
            self._cache[name] = self._checked(name, data)
        elif isinstance(error, NoNodeError):  # deleted: the listing that follows tells more
            self._cache.pop(name, None)
            self._stale.discard(name)
            self._deleted.add(name)
        elif isinstance(error, ZookeeperError) and not _transient(error):  # NoAuth, ...
            self._stale.discard(name)
            self._skip(name, f"cannot be read: {type(error).__name__}")
            self._cache[name] = None
        else:  # connection loss, session expiry, timeout: read again; the old value stays
            self.retry.add(name)

    def changed(self, name: str, kind: str) -> bool:
        """The child's data watch fired: `kind` is "changed", "deleted" or "lost" (the
        connection dropped, the watch with it). True if the child must be read now.

        A deleted child is left to the listing that follows the deletion (as a leave always
        is, so that several leaves are seen together): gone, or back under the same name and
        read again. A lost watch is read on reconnect.
        """
        if name not in self._names or name.startswith("base64_"):
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
        """Validated, label-filtered backends of the listed children, one per host:port, sorted.

        Of several nodes for one host:port, the newest registration wins: the highest sequence
        number (nerve's nodes are sequential), then the child name that sorts last.
        """
        found: dict[str, tuple[tuple[int, str], Backend]] = {}
        clashes: dict[str, list[str]] = {}
        for name in self._names:
            backend = self._cache.get(name)
            if backend is None or not matches_label_filters(backend, self._filters):
                continue
            rank = (_sequence(name), name)
            if backend.key in found:
                clashes.setdefault(backend.key, [found[backend.key][0][1]]).append(name)
                if rank < found[backend.key][0]:
                    continue
            found[backend.key] = (rank, backend)
        for key, names in clashes.items():
            self._log_clash(key, names, found[key][1].node)
        return tuple(sorted(b for _, b in found.values()))

    def backends(self, names: tuple[str, ...], read: Reader) -> tuple[Backend, ...]:
        """Blocking form (the CLI): list `names`, read what is needed with `read`, decode."""
        for name in self.set_names(names):
            self.reading([name])
            try:
                data, error = read(f"{self.service.discovery.path}/{name}"), None
            except ZookeeperError as e:
                data, error = None, e
            self.result(name, data, error)
        return self.current()

    @property
    def _filters(self):
        return self.service.discovery.label_filters

    def _checked(self, name: str, data: bytes | None) -> Backend | None:
        try:
            return decode_node(name, data)
        except InvalidNode as e:
            self._skip(name, str(e))
            return None

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


def desired_backends(
    service: ServiceConfig,
    discovered: tuple[Backend, ...],
    previous: tuple[Backend, ...] | None,
    guard: ExpiryGuard | None = None,
    now: float = 0.0,
) -> tuple[Backend, ...]:
    """Apply default_servers, keep_default_servers, the use_previous_backends guard and, given
    `guard`, the mass-expiry hold (an empty read is left to use_previous_backends alone)."""
    if guard is not None and not discovered:
        guard.release()
    if not discovered and previous and service.use_previous_backends:
        log.warning(
            "%s: discovery returned no backends; keeping the previous %d",
            service.name,
            len(previous),
        )
        return previous
    if service.keep_default_servers:
        merged = {b.key: b for b in (*service.default_servers, *discovered)}
        desired = tuple(sorted(merged.values()))
    else:
        desired = discovered or tuple(sorted(service.default_servers))
    return guard.filter(previous, desired, now) if guard and discovered else desired


class ExpiryGuard:
    """Holds a service's backends for `mass_expiry_grace` when too many vanish at once.

    Like Envoy's panic threshold: when a change shrinks the backends in force by more than
    `mass_expiry_threshold` of them, and by at least `mass_expiry_min_count` (mass session expiry,
    a registry hiccup), the registry is more likely wrong than the fleet, so the old set stays (new
    arrivals are added) until the count recovers or the grace period ends. The count keeps an
    ordinary scale-down of a small service (2 of 3 leaving) applied at once, as Ruby synapse
    applies every change. A replacement (as many new as gone) is not a drop. An empty read is left
    to `use_previous_backends`.
    """

    def __init__(self, service: ServiceConfig):
        self.service = service
        self.held: tuple[Backend, ...] = ()  # the set in force when the hold began
        self.since: float | None = None
        self.holds = 0

    @property
    def deadline(self) -> float | None:
        """When the current hold ends (monotonic seconds); None when not holding."""
        return None if self.since is None else self.since + self.service.mass_expiry_grace

    def filter(
        self, previous: tuple[Backend, ...] | None, desired: tuple[Backend, ...], now: float
    ) -> tuple[Backend, ...]:
        """The backends to put in force instead of `desired`, given those in force now."""
        if self.since is not None:
            return self._holding(desired, now)
        if previous and self._sharp_drop(previous, desired):
            return self._begin(previous, desired, now)
        return desired

    def _begin(self, previous, desired, now: float) -> tuple[Backend, ...]:
        self.held, self.since = previous, now
        self.holds += 1
        log.warning(
            "%s: mass expiry: %d of %d backends vanished at once (over %.0f%%); keeping them "
            "for %gs (mass_expiry_grace)",
            self.service.name,
            len(previous) - len(desired),
            len(previous),
            self.service.mass_expiry_threshold * 100,
            self.service.mass_expiry_grace,
        )
        return _merge(previous, desired)

    def release(self) -> None:
        """End a hold without applying anything (an empty read is not ours to judge)."""
        self.since = None

    def _holding(self, desired, now: float) -> tuple[Backend, ...]:
        if now >= self.deadline:
            self.since = None
            log.warning(
                "%s: mass_expiry_grace over; applying the %d backends the registry lists",
                self.service.name,
                len(desired),
            )
            return desired
        if not self._sharp_drop(self.held, desired):
            self.since = None
            log.info("%s: backends came back; mass expiry hold ended", self.service.name)
            return desired
        return _merge(self.held, desired)

    def _sharp_drop(self, before: tuple[Backend, ...], after: tuple[Backend, ...]) -> bool:
        """More than the threshold share of `before`, and at least the minimum count, is gone
        and not replaced (a count drop)."""
        svc = self.service
        lost = len(before) - len(after)
        sharp = lost > svc.mass_expiry_threshold * len(before)
        return svc.mass_expiry_grace > 0 and lost >= svc.mass_expiry_min_count and sharp


def _merge(held, desired) -> tuple[Backend, ...]:
    """`desired` plus the held backends it lacks (a held backend's newer data wins)."""
    merged = {b.key: b for b in held}
    merged.update({b.key: b for b in desired})
    return tuple(sorted(merged.values()))
