"""Watches the running HAProxy through a cheap `show info` every `interval` seconds.

Two things can happen behind synapse-py's back: HAProxy stops answering on its admin socket
(killed, crashed, or the socket file deleted), or a new worker appears that synapse-py did not
reload (someone else reloaded or restarted HAProxy, maybe from another file). The monitor says
each once, and hands the generator what to do: `recover(socket_missing)` while HAProxy does not
answer (at once, then with a growing pause between attempts), `resync()` when HAProxy answers
again or a foreign worker appears (the live state is unknown: re-apply over the runtime API).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from .haproxy_socket import HaproxySocket, HaproxySocketError

log = logging.getLogger(__name__)

MISSES = 2  # failed probes in a row before HAProxy counts as gone (one can be a busy moment)
RETRY_FIRST, RETRY_MAX = 2.0, 30.0  # pause between recovery attempts, doubled each time


class HaproxyMonitor:
    """One thread probing `socket`; state changes happen under `lock` (the generator's)."""

    def __init__(
        self,
        socket: HaproxySocket,
        lock: AbstractContextManager,
        recover: Callable[[bool], None],
        resync: Callable[[], None],
        interval: float = 1.0,
    ):
        self.interval = interval
        self.down = False  # HAProxy stopped answering and has not come back yet
        self.pid: str | None = None  # the worker we expect to answer
        self._expected = False  # HAProxy should run: seen answering, or started by a reload
        self._socket = HaproxySocket(socket.path, timeout=min(socket.timeout, interval))
        self._lock = lock
        self._recover = recover
        self._resync = resync
        self._epoch = 0  # bumped by reloads: a probe that overlaps one is not judged
        self._reloading = False
        self._misses = 0
        self._retry_at = 0.0
        self._retry_pause = RETRY_FIRST
        self._resync_due = False
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="haproxy-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def reloading(self) -> None:
        """A reload by synapse-py starts: the worker pid is about to change (under `lock`)."""
        self._epoch += 1
        self._reloading = True

    def reloaded(self, pid: str | None) -> None:
        """A reload by synapse-py ended; `pid`: its new worker answered (under `lock`)."""
        self._epoch += 1
        self._reloading = False
        self._expected = True  # even if its worker never answered: then it must be recovered
        if pid:
            self._misses = 0
            self._up(pid)

    def lost(self, reason: str) -> None:
        """HAProxy did not answer the generator (under `lock`): recover at the next probe."""
        if self._expected and not self.down:
            self._misses = MISSES
            self._mark_down(reason)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                action = self._tick()
                if action and not self._stopped.is_set():
                    action()
            except Exception:  # noqa: BLE001 - a bug must not end the monitor
                log.exception("HAProxy monitor failed")

    def _tick(self) -> Callable[[], None] | None:
        epoch = self._epoch
        try:
            pid, reason = self._socket.show_info().get("Pid"), ""
        except HaproxySocketError as exc:
            pid, reason = None, str(exc)
        with self._lock:
            if epoch != self._epoch or self._reloading:
                return None
            return self._judge(pid, reason) if pid else self._judge_miss(reason)

    def _judge(self, pid: str, _reason: str) -> Callable[[], None] | None:
        self._misses = 0
        self._expected = True
        if self.down or (self.pid is not None and pid != self.pid):
            if not self.down:
                log.warning(
                    "HAProxy worker %s replaced by %s without a reload by synapse-py; "
                    "re-applying the membership",
                    self.pid,
                    pid,
                )
            self._up(pid)
            self._resync_due = True
        self.pid = pid
        if self._resync_due:
            self._resync_due = False
            return self._resync
        return None

    def _judge_miss(self, reason: str) -> Callable[[], None] | None:
        self._misses += 1
        if not self._expected or self._misses < MISSES:  # never meant to run yet: nothing to do
            return None
        if not self.down:
            self._mark_down(reason)
        if time.monotonic() < self._retry_at:
            return None
        self._retry_at = time.monotonic() + self._retry_pause
        self._retry_pause = min(RETRY_MAX, self._retry_pause * 2)
        missing = not os.path.exists(self._socket.path)
        return lambda: self._recover(missing)

    def _mark_down(self, reason: str) -> None:
        self.down = True
        self._retry_at, self._retry_pause = 0.0, RETRY_FIRST
        log.error(
            "HAProxy does not answer on its admin socket (%s); restarting it through "
            "reload_command until it does",
            reason,
        )

    def _up(self, pid: str) -> None:
        if self.down:
            log.warning("HAProxy answers again (worker %s); re-applying the membership", pid)
            self.down = False
            self._resync_due = True
        self.pid = pid
