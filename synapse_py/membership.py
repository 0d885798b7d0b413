"""From a service's child names to its validated backends (the reader side, with a cache).

Each child is read at most once: sequential names are unique, and a path-encoded name carries its
data. A node that fails validation is skipped whole, logged once and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kazoo.exceptions import NoNodeError

from .backend import Backend, InvalidNode, decode_node, matches_label_filters
from .config import ServiceConfig

log = logging.getLogger(__name__)

Reader = Callable[[str], bytes]  # full path -> node data; raises NoNodeError when gone


class ServiceMembers:
    """Decodes and caches one service's children."""

    def __init__(self, service: ServiceConfig):
        self.service = service
        self._cache: dict[str, Backend | None] = {}  # child name -> backend (None: invalid)
        self.reads = 0
        self.invalid = 0

    def backends(self, names: tuple[str, ...], read: Reader) -> tuple[Backend, ...]:
        """Validated, label-filtered backends for `names`, deduplicated by host:port, sorted."""
        self._cache = {n: self._cache[n] for n in names if n in self._cache}
        found: dict[str, Backend] = {}
        for name in names:
            backend = self._cached(name, read)
            if backend is not None and matches_label_filters(backend, self._filters):
                found.setdefault(backend.key, backend)
        return tuple(sorted(found.values()))

    @property
    def _filters(self):
        return self.service.discovery.label_filters

    def _cached(self, name: str, read: Reader) -> Backend | None:
        if name in self._cache:
            return self._cache[name]
        try:
            backend = self._decode(name, read)
        except NoNodeError:
            return None  # deleted between listing and reading: it is gone, do not cache
        except InvalidNode as e:
            self.invalid += 1
            log.warning("%s: skipping invalid node %r: %s", self.service.name, name[:80], e)
            backend = None
        self._cache[name] = backend
        return backend

    def _decode(self, name: str, read: Reader) -> Backend:
        if name.startswith("base64_"):
            return decode_node(name, None)
        self.reads += 1
        return decode_node(name, read(f"{self.service.discovery.path}/{name}"))


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
    `mass_expiry_threshold` of them (mass session expiry, a registry hiccup), the registry is more
    likely wrong than the fleet, so the old set stays (new arrivals are added) until the count
    recovers or the grace period ends. A replacement (as many new as gone) is not a drop. An empty
    read is left to `use_previous_backends`.
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
        """More than the threshold share of `before` is gone and not replaced (a count drop)."""
        svc = self.service
        lost = len(before) - len(after)
        return svc.mass_expiry_grace > 0 and lost > svc.mass_expiry_threshold * len(before)


def _merge(held, desired) -> tuple[Backend, ...]:
    """`desired` plus the held backends it lacks (a held backend's newer data wins)."""
    merged = {b.key: b for b in held}
    merged.update({b.key: b for b in desired})
    return tuple(sorted(merged.values()))
