"""What a service serves, given what discovery found: Ruby synapse's rules, plus our hold.

Ruby's rules (`set_backends` and `backends` in its base watcher): with `keep_default_servers`
the default servers join the discovered ones (a default with the same host, port and name as a
node is dropped); `backend_port_override` applies to both; an empty result serves the
default servers as configured, or, when there are none, the previous backends
(`use_previous_backends`, default true) or nothing. The label filters apply last, to whatever
is served, default servers included. The mass-expiry hold is ours (see `ExpiryGuard`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from .backend import Backend
from .config import ServiceConfig

log = logging.getLogger(__name__)


def desired_backends(
    service: ServiceConfig,
    discovered: tuple[Backend, ...],
    previous: tuple[Backend, ...] | None,
    guard: ExpiryGuard | None = None,
    now: float = 0.0,
) -> tuple[Backend, ...]:
    """The backends to serve: Ruby's rules, then, given `guard`, the mass-expiry hold (an empty
    read is left to the default servers and use_previous_backends alone). An unchanged set
    keeps the order of `previous` (Ruby compares sets: a reordered listing is no change)."""
    candidates = _with_defaults(service, discovered)
    if not candidates:
        if guard is not None:
            guard.release()
        return _empty(service, previous)
    desired = _filtered(service, candidates)
    if guard is not None and previous and not _only_defaults(service, previous):
        desired = guard.filter(previous, desired, now)
    if previous is not None and set(previous) == set(desired):
        return previous
    return desired


def served_defaults(service: ServiceConfig) -> tuple[Backend, ...]:
    """What Ruby serves before discovery answers, or when it finds nothing: the label-filtered
    default servers, as configured (no port override)."""
    return _filtered(service, service.default_servers)


def _with_defaults(service: ServiceConfig, discovered: tuple[Backend, ...]) -> tuple[Backend, ...]:
    if not service.keep_default_servers or not service.default_servers:
        return discovered
    override = service.port_override
    defaults = (b if override is None else b.with_port(override) for b in service.default_servers)
    merged: dict[tuple[str, int, str], Backend] = {}
    for b in (*discovered, *defaults):
        merged.setdefault((b.host, b.port, b.name), b)
    return tuple(merged.values())


def _empty(service: ServiceConfig, previous: tuple[Backend, ...] | None) -> tuple[Backend, ...]:
    if service.default_servers:
        return served_defaults(service)
    if previous and service.use_previous_backends:
        log.warning(
            "%s: discovery returned no backends and there are no default_servers; keeping the "
            "previous %d (use_previous_backends)",
            service.name,
            len(previous),
        )
        return previous
    return ()


def _filtered(service: ServiceConfig, backends: tuple[Backend, ...]) -> tuple[Backend, ...]:
    filters = service.discovery.label_filters
    if not filters:
        return tuple(backends)
    return tuple(b for b in backends if matches_label_filters(b, filters))


def _only_defaults(service: ServiceConfig, previous: tuple[Backend, ...]) -> bool:
    """The backends in force are the default servers (before discovery answered, or after it
    found nothing): Ruby replaces them at once, so no hold."""
    return set(previous) <= set(service.default_servers)


def matches_label_filters(backend: Backend, filters: Iterable[Mapping]) -> bool:
    """True if the backend passes every Ruby-synapse label filter (ANDed).

    A label that is missing, or not a string, never `equals` a value and always passes
    `not-equals`, as in Ruby.
    """
    labels = dict(backend.labels)
    for f in filters:
        equal = labels.get(f["label"]) == f["value"]
        if equal != (f["condition"] == "equals"):
            return False
    return True


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
        deadline = self.deadline
        if deadline is not None:
            return self._holding(deadline, desired, now)
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

    def _holding(self, deadline: float, desired, now: float) -> tuple[Backend, ...]:
        if now >= deadline:
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
    return tuple(merged.values())
