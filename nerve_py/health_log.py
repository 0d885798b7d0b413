"""What nerve-py logs about health, so that an operator can tell why a service is down or absent.

A check's first failure (while it is up) and every up/down change are logged with the check's own
reason ("HTTP 503", "connection refused", "timed out after 1s"); the failures in between are not,
so a check failing every 0.5 s for a day writes a handful of lines. A service without a node is
logged with the reason (a check down, rising or never passed, ZooKeeper unreachable, reports
failing, maintenance) at a bounded rate: after NOT_REGISTERED_FIRST seconds, then at doubling
intervals up to NOT_REGISTERED_MAX.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .hysteresis import Hysteresis

log = logging.getLogger(__name__)

#: seconds without a node before the first "not registered" line, and the most between two
NOT_REGISTERED_FIRST, NOT_REGISTERED_MAX = 10.0, 600.0


class CheckLog:
    """One check's log lines: the first failure while up, and every transition."""

    def __init__(self, service: str, check: str):
        self.service, self.check = service, check
        self._failing = False  # the previous result failed

    def record(self, ok: bool, reason: str, changed: bool | None, hyst: Hysteresis) -> None:
        if changed is not None:
            level = logging.INFO if changed else logging.WARNING
            state = "up" if changed else "down"
            log.log(level, "%s: check %s is now %s (%s)", self.service, self.check, state, reason)
        elif not ok and not self._failing and hyst.up:
            log.warning(
                "%s: check %s failed (%s); down after %d failures in a row",
                self.service,
                self.check,
                reason,
                hyst.fall,
            )
        self._failing = not ok


@dataclass
class CheckState:
    """What the watcher knows of one check, to say why it is not up."""

    name: str
    hyst: Hysteresis
    passed: int  # runs that passed since the watcher (re)started counting
    reason: str | None  # the last result's reason; None before the first run


def check_problem(c: CheckState) -> str:
    """Why a check that is not up is not: never passed, rising, or down with its last reason."""
    if c.reason is None:
        return f"check {c.name} has not run yet"
    if not c.passed:
        return f"check {c.name} has never passed (last: {c.reason})"
    if c.reason == "ok":
        return f"check {c.name} is rising: {c.hyst.streak} of rise {c.hyst.rise} passes"
    return f"check {c.name} is down (last: {c.reason})"


class Watched(Protocol):
    """What `not_registered_reason` reads of a service watcher."""

    healthy: bool
    maintenance: bool

    def check_states(self) -> Sequence[CheckState]: ...


def not_registered_reason(w: Watched, conn: object, failures: int) -> str:
    """Why a service has no node: the first cause that applies."""
    if w.maintenance:
        return "in maintenance (nerve-py maint off to end it)"
    if not w.healthy:
        return "; ".join(check_problem(c) for c in w.check_states() if not c.hyst.up)
    hosts = getattr(conn, "hosts", "the ensemble")
    if not getattr(conn, "connected", True):
        return f"ZooKeeper at {hosts} unreachable; retrying"
    if failures:
        return f"{failures} reports to ZooKeeper at {hosts} failed in a row"
    return "healthy; the next report registers it"


class NotRegisteredLog:
    """Logs, at a bounded rate, why a service has no node while it has none."""

    def __init__(self, service: str, clock: Callable[[], float] = time.monotonic):
        self.service = service
        self.clock = clock
        self._since: float | None = None  # without a node since
        self._next = 0.0
        self._gap = NOT_REGISTERED_FIRST

    def note(self, registered: bool, why: Callable[[], str]) -> None:
        """Called every round; `why` is asked only when a line is due."""
        now = self.clock()
        if registered:
            self._since = None
            return
        if self._since is None:
            self._since, self._gap = now, NOT_REGISTERED_FIRST
            self._next = now + self._gap
        elif now >= self._next:
            log.warning("%s: not registered for %.0fs: %s", self.service, now - self._since, why())
            self._gap = min(self._gap * 2, NOT_REGISTERED_MAX)
            self._next = now + self._gap
