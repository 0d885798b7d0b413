"""One service: run its checks every interval, apply rise/fall, and keep its node in line."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from .checks import build_check, run_check
from .config import ServiceConfig
from .hysteresis import Hysteresis
from .reporter import Reporter
from .state import StateDir

log = logging.getLogger(__name__)


@dataclass
class CheckResult:
    name: str
    ok: bool
    up: bool
    reason: str
    duration: float = 0.0


@dataclass
class CheckStats:
    """Running totals of one check, read by the metrics collector."""

    passed: int = 0
    failed: int = 0
    seconds: float = 0.0

    def record(self, ok: bool, duration: float) -> None:
        self.passed += ok
        self.failed += not ok
        self.seconds += duration


class ServiceWatcher:
    """Owns one service's checks and reporter, on its own thread."""

    def __init__(self, service: ServiceConfig, reporter: Reporter, state: StateDir):
        self.service = service
        self.reporter = reporter
        self.state = state
        self.checks = [build_check(s.params(), service.host, service.port) for s in service.checks]
        self.hysteresis = [Hysteresis(c.rise, c.fall) for c in self.checks]
        self.results: list[CheckResult] = []
        self.stats = [CheckStats() for _ in self.checks]
        self.healthy = not self.checks  # no checks: always up, as Ruby nerve
        self.maintenance = False
        self.settled = threading.Event()  # the first up/down decision has been made
        self._ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"svc-{service.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a bug in one service must not stop the others
                log.exception("%s: unexpected error in check loop", self.service.name)
            self._stop.wait(max(0.0, self.service.check_interval - (time.monotonic() - started)))

    def tick(self) -> None:
        """Run every check once, update health, and sync the registration."""
        self._run_checks()
        self.maintenance = self.state.in_maintenance(self.service.name)
        self.reporter.sync(self.healthy and not self.maintenance)
        self._ticks += 1
        if self.reporter.node is not None or self._ticks > self._max_rise():
            self.settled.set()

    def _run_checks(self) -> None:
        results = []
        for check, hyst, stats in zip(self.checks, self.hysteresis, self.stats, strict=True):
            started = time.monotonic()
            ok, reason = run_check(check)
            duration = time.monotonic() - started
            stats.record(ok, duration)
            changed = hyst.update(ok)
            if changed is not None:
                log.info(
                    "%s: check %s is now %s (%s)",
                    self.service.name,
                    check.name,
                    "up" if changed else "down",
                    reason,
                )
            results.append(CheckResult(check.name, ok, hyst.up, reason, round(duration, 6)))
        self.results = results
        if self.checks:
            self.healthy = all(r.up for r in results)

    @property
    def alive(self) -> bool:
        """The check thread is running (it survives errors in a tick, so dead means stopped)."""
        return self._thread.is_alive()

    def _max_rise(self) -> int:
        return max((h.rise for h in self.hysteresis), default=0)

    def request_stop(self) -> None:
        """Ask the thread to stop after its current tick (does not wait)."""
        self._stop.set()

    def stop(self, deregister: bool = True) -> None:
        """Stop the thread; by default also remove the node."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=max(5.0, self.service.check_interval * 2))
        if deregister:
            self.reporter.deregister()
        for check in self.checks:
            check.close()

    def status(self) -> dict:
        return {
            "healthy": self.healthy,
            "maintenance": self.maintenance,
            "node": self.reporter.node,
            "checks": [r.__dict__ for r in self.results],
        }
