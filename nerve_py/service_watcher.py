"""One service: run its checks every interval, apply rise/fall, and keep its node in line.

As Ruby nerve's ServiceWatcher: `check_mocked` skips the checks (always up); after
`max_repeated_report_failures` failed reports in a row the watcher restarts itself (Ruby's main
loop relaunches a watcher that gave up): fresh checks, first result adopted, node verified anew.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .checks import build_checks, run_check
from .config import ServiceConfig
from .health_log import CheckLog, CheckState, NotRegisteredLog, not_registered_reason
from .hysteresis import Hysteresis
from .reporter import Reporter, ttl_applies
from .scheduler import Scheduler, shared_scheduler
from .state import StateDir

#: Ruby nerve's default max_repeated_report_failures
DEFAULT_MAX_FAILURES = 10
#: seconds the first round waits for the ZooKeeper session (Ruby's reporter waits up to 5 s
#: to connect before its first check), polled every CONNECT_POLL s
CONNECT_WAIT, CONNECT_POLL = 5.0, 0.1

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


def _raiser(exc: BaseException) -> Callable[[], bool]:
    def fail() -> bool:
        raise exc

    return fail


class TtlRenewer:
    """A scheduler job: touch the service's persistent node every `ttl_seconds` (Ruby's thread)."""

    def __init__(self, watcher: ServiceWatcher, ttl: float):
        self.watcher = watcher
        self.interval = ttl

    @property
    def stopped(self) -> bool:
        return self.watcher.stopped

    def run_round(self) -> None:
        self.watcher.reporter.touch()


class ServiceWatcher:
    """Owns one service's checks and reporter; its rounds run on the shared scheduler."""

    def __init__(
        self,
        service: ServiceConfig,
        reporter: Reporter,
        state: StateDir,
        scheduler: Scheduler | None = None,
        max_failures: int = DEFAULT_MAX_FAILURES,
    ):
        self.service = service
        self.reporter = reporter
        self.state = state
        self.max_failures = max_failures
        self.restarts = 0
        self.fast_rounds = 0  # rounds begun on the scheduler's loop thread (start_fast)
        self._fresh_checks()
        self.stats = [CheckStats() for _ in self.checks]
        self.healthy = not self.checks or service.check_mocked  # as Ruby nerve
        self.maintenance = False
        self.not_registered = NotRegisteredLog(service.name)
        self.settled = threading.Event()  # the first up/down decision has been made
        self._ticks = 0
        self._stop = threading.Event()
        self._round = threading.Lock()  # held while a round runs: stop() waits for it
        self._scheduler = scheduler
        self._started = False
        self._started_at = time.monotonic()
        #: bumped whenever status() changes other than in check durations: the daemon rewrites
        #: the status file on a change without building 1000 services' status to compare
        self.changes = 0
        self._status_key: tuple | None = None

    def _fresh_checks(self) -> None:
        service = self.service
        self.checks = build_checks((s.params() for s in service.checks), service.host, service.port)
        self.hysteresis = [Hysteresis(c.rise, c.fall) for c in self.checks]
        self.check_logs = [CheckLog(service.name, c.name) for c in self.checks]
        self.results: list[CheckResult] = []

    @property
    def interval(self) -> float:
        """Seconds to the next round: `check_interval`, or a short poll while the first waits."""
        return CONNECT_POLL if self._waiting_for_zookeeper() else self.service.check_interval

    def _waiting_for_zookeeper(self) -> bool:
        """The first round is held (briefly) until the session is up, so its result is reported
        at once instead of a `check_interval` later."""
        if self._ticks or self.reporter.conn.connected:
            return False
        return time.monotonic() - self._started_at < CONNECT_WAIT

    def start(self) -> None:
        """Schedule the first round now (and, for `ttl_seconds`, the first renewal)."""
        scheduler = self._scheduler = self._scheduler or shared_scheduler()
        self._started = True
        self._started_at = time.monotonic()
        scheduler.add(self)
        self._schedule_ttl_renewal(scheduler)

    def _schedule_ttl_renewal(self, scheduler: Scheduler) -> None:
        service, ttl = self.service, self.service.ttl_seconds
        if ttl is None:
            return
        if ttl_applies(service):
            # Ruby starts each renewal clock at a random phase, so hosts do not touch in step
            scheduler.add(TtlRenewer(self, ttl), time.monotonic() + random.uniform(0, ttl))
        else:
            log.warning(
                "%s: ttl_seconds has no effect on %s nodes (as in Ruby nerve)",
                service.name,
                service.node_type,
            )

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run_round(self) -> None:
        """One scheduled round (called by a scheduler worker); never raises."""
        with self._round:
            if self._stop.is_set():
                return
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a bug in one service must not stop the others
                log.exception("%s: unexpected error in check loop", self.service.name)

    def tick(self) -> None:
        """Run every check once, update health, and sync the registration."""
        if self._waiting_for_zookeeper():
            return
        if not self.service.check_mocked:  # Ruby: a mocked service never runs its checks
            self._run_checks()
        self._after_checks()

    def _after_checks(self, may_block: bool = True) -> bool:
        """Maintenance, the report and the restart rule after the checks ran; False (nothing
        done) when the report would call ZooKeeper and the caller, the loop, may not block."""
        maintenance = self.state.in_maintenance(self.service.name)
        wanted = self.healthy and not maintenance
        quiet = getattr(self.reporter, "quiet", None)  # a stand-in reporter may not have it
        report = quiet is None or not quiet(wanted)
        if report and not may_block:
            return False
        self.maintenance = maintenance
        if report:
            self.reporter.sync(wanted)
        self.not_registered.note(self.reporter.node is not None, self._why_not_registered)
        self._ticks += 1
        if self.reporter.node is not None or not wanted or self._ticks > 2:
            self.settled.set()
        if self.reporter.failures >= self.max_failures:
            self._restart()
        self._note_change()
        return True

    def _why_not_registered(self) -> str:
        r = self.reporter
        return not_registered_reason(self, r.conn, getattr(r, "failures", 0))

    def check_states(self) -> list[CheckState]:
        """Each check's debounced state, passes and last reason (for the log's why)."""
        reasons = {r.name: r.reason for r in self.results}
        return [
            CheckState(c.name, h, s.passed, reasons.get(c.name))
            for c, h, s in zip(self.checks, self.hysteresis, self.stats, strict=True)
        ]

    def _note_change(self) -> None:
        results = tuple((r.name, r.ok, r.up, r.reason) for r in self.results)
        key = (self.healthy, self.maintenance, self.reporter.node, results)
        if key != self._status_key:
            self._status_key = key
            self.changes += 1

    def _restart(self) -> None:
        """Start over as Ruby's relaunched watcher does; the node is kept, never dropped for it."""
        log.error(
            "%s: %d reports failed in a row (max_repeated_report_failures); restarting the watcher",
            self.service.name,
            self.reporter.failures,
        )
        self.restarts += 1
        for check in self.checks:
            check.close()
        self._fresh_checks()
        self.reporter.recheck()

    def _run_checks(self) -> None:
        results = []
        for index, check in enumerate(self.checks):
            started = time.monotonic()
            ok, reason = run_check(check)
            results.append(self._record(index, ok, reason, time.monotonic() - started))
        self.results = results
        if self.checks:
            self.healthy = all(r.up for r in results)

    def _record(self, index: int, ok: bool, reason: str, duration: float) -> CheckResult:
        """One check's result through its stats and rise/fall."""
        check, hyst = self.checks[index], self.hysteresis[index]
        self.stats[index].record(ok, duration)
        changed = hyst.update(ok)
        self.check_logs[index].record(ok, reason, changed, hyst)
        return CheckResult(check.name, ok, hyst.up, reason, round(duration, 6))

    # ---- a round on the scheduler's loop thread (scheduler.py): one http check, kept alive

    def start_fast(self, loop: Scheduler) -> bool:
        """Begin this round on the loop without blocking; False: run it on a worker instead."""
        if len(self.checks) != 1 or self.service.check_mocked or not self._ticks:
            return False  # the first round (which may wait for ZooKeeper) is a blocking one
        check: Any = self.checks[0]  # an HttpCheck when it has begin_fast
        begin = getattr(check, "begin_fast", None)
        if begin is None or not self._round.acquire(blocking=False):
            return False
        if self._stop.is_set():
            self._round.release()
            return True  # stopped: no round, and not put back
        started = time.monotonic()
        sock = begin()
        if sock is None:
            self._round.release()
            return False
        try:
            loop.watch(
                sock,
                started + check.read_timeout,
                lambda: self._fast_step(loop, check, started),
                lambda: self._fast_done(loop, started, check.timeout_fast),
            )
        except (KeyError, ValueError, OSError):  # a closed socket's number still registered
            check.close()
            self._round.release()
            return False  # the blocking round connects anew
        self.fast_rounds += 1
        return True

    def _fast_step(self, loop: Scheduler, check, started: float) -> Callable[[], None] | None:
        """The socket is readable: None while the response head is incomplete, else what ends
        the round (on the loop when it only reads the buffer, else on a worker)."""
        try:
            step = check.feed_fast()
        except Exception as exc:  # noqa: BLE001 - a socket error fails the check, as check() does
            step = (_raiser(exc), True)
        if step is None:
            return None
        finish, inline = step
        probe = lambda: check.finish_fast(finish)  # noqa: E731
        if inline:
            return lambda: self._fast_done(loop, started, probe)
        return lambda: loop.run_blocking(lambda: self._fast_done(loop, started, probe))

    def _fast_done(self, loop: Scheduler, started: float, probe: Callable[[], bool]) -> None:
        """Record the result, then report: here when ZooKeeper need not be called, else on a
        worker; the round lock is released and the next round scheduled at the very end."""
        try:
            ok, reason = run_check(self.checks[0], probe)
            self.results = [self._record(0, ok, reason, time.monotonic() - started)]
            self.healthy = self.results[0].up
            if self._after_checks(may_block=threading.get_ident() != loop.loop_thread):
                self._end_fast_round(loop, started)
            else:
                loop.run_blocking(lambda: self._blocking_end(loop, started))
        except Exception:  # noqa: BLE001 - a bug in one service must not stop the others
            log.exception("%s: unexpected error in check loop", self.service.name)
            self._end_fast_round(loop, started)

    def _blocking_end(self, loop: Scheduler, started: float) -> None:
        try:
            self._after_checks()
        except Exception:  # noqa: BLE001 - a bug in one service must not stop the others
            log.exception("%s: unexpected error in check loop", self.service.name)
        self._end_fast_round(loop, started)

    def _end_fast_round(self, loop: Scheduler, started: float) -> None:
        self._round.release()
        if not self._stop.is_set():
            loop.add(self, started + self.interval)

    @property
    def alive(self) -> bool:
        """Scheduled, not stopped, and the scheduler's threads are running."""
        return self.scheduled and self.scheduler is not None and self.scheduler.alive

    @property
    def scheduled(self) -> bool:
        """Started and not stopped (`alive` without asking the scheduler)."""
        return self._started and not self._stop.is_set()

    @property
    def scheduler(self) -> Scheduler | None:
        return self._scheduler

    @property
    def settle_timeout(self) -> float:
        """How long the first up/down decision may take: the first result decides, as in Ruby."""
        return self.service.check_interval * 3 + 5

    def request_stop(self) -> None:
        """Run no further round after the current one (does not wait)."""
        self._stop.set()

    def stop(self, deregister: bool = True) -> None:
        """Stop the rounds, waiting (bounded) for one in flight; by default remove the node."""
        self._stop.set()
        if self._round.acquire(timeout=max(5.0, self.service.check_interval * 2)):
            self._round.release()
        if deregister:
            self.reporter.deregister()
        for check in self.checks:
            check.close()
        self._note_change()

    def status(self) -> dict:
        return {
            "healthy": self.healthy,
            "maintenance": self.maintenance,
            "check_mocked": self.service.check_mocked,
            "node": self.reporter.node,
            "checks": [r.__dict__ for r in self.results],
        }
