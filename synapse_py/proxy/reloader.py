"""Rate-limited HAProxy reloads through the operator's `reload_command`.

A reload asked for inside `restart_interval` of the last one is deferred, never dropped, and every
request that arrives while one is pending or running is folded into it (a request that arrives
while a reload runs gets one more reload after it, as the file may have changed after HAProxy read
it). The next reload is allowed
`restart_interval * (1 + uniform(0, restart_jitter))` seconds after the last one. The command is a
shell line that also starts HAProxy when it is not running (docs/synapse.md, "Running beside
HAProxy").
"""

from __future__ import annotations

import logging
import random
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

log = logging.getLogger(__name__)


class Reloader:
    """Runs `command` at most once per `interval` seconds (plus up to `jitter` x interval)."""

    def __init__(
        self,
        command: str,
        interval: float,
        jitter: float = 0.0,
        lock: AbstractContextManager | None = None,
        before: Callable[[], None] | None = None,
        after: Callable[[bool], None] | None = None,
        timeout: float = 60.0,
        settle: Callable[[], bool] | None = None,
    ):
        """`lock` is held while `before()`, the command and `after(succeeded)` run.

        `settle()`, run between the command and `after` without `lock`, waits for the reload to
        take (the new worker answers); its False makes `after` see a failure.
        """
        self.command = command
        self.interval = interval
        self.jitter = jitter
        self.timeout = timeout
        self.reloads = 0
        self.failures = 0
        self._lock = lock or nullcontext()
        self._before = before or (lambda: None)
        self._after = after or (lambda ok: None)
        self._settle = settle or (lambda: True)
        self._state = threading.Condition()
        self._timer: threading.Timer | None = None
        self._running = False  # a reload is between before() and after()
        self._again = False  # requested while running: one more reload after it
        self._stopped = False
        self._next_allowed = 0.0

    @property
    def pending(self) -> bool:
        """A deferred reload is waiting for its turn."""
        with self._state:
            return self._timer is not None

    @property
    def running(self) -> bool:
        """A reload is running (its command, or waiting for it to take)."""
        with self._state:
            return self._running

    def request(self) -> None:
        """Reload now if the interval allows it, else once when it does."""
        with self._state:
            if self._timer is not None:
                return
            if self._running:
                self._again = True
                return
            delay = self._next_allowed - time.monotonic()
            if delay > 0:
                log.info("reload deferred %.2fs by restart_interval", delay)
                self._schedule(delay)
                return
            self._running = True
        self._run()

    def flush(self, timeout: float) -> bool:
        """Wait until no reload is pending or running; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._state:
            while self._timer is not None or self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._state.wait(left)
        return True

    def stop(self) -> None:
        """Cancel a deferred reload (HAProxy itself keeps running)."""
        with self._state:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._again, self._stopped = False, True
            self._state.notify_all()

    def _schedule(self, delay: float) -> None:
        self._timer = threading.Timer(delay, self._deferred)
        self._timer.daemon = True
        self._timer.start()

    def _deferred(self) -> None:
        with self._state:
            if self._timer is None:  # stopped
                return
            self._timer, self._running = None, True
        self._run()

    def _run(self) -> None:
        """One reload; the caller set `_running`."""
        try:
            with self._lock:
                self._before()
                ok = self._execute()
                with self._state:
                    spread = 1.0 + random.uniform(0.0, self.jitter)
                    self._next_allowed = time.monotonic() + self.interval * spread
            ok = ok and self._settle()
            with self._lock:
                self._after(ok)
        finally:
            with self._state:
                self._running = False
                if self._again and self._timer is None and not self._stopped:
                    self._again = False
                    self._schedule(max(0.0, self._next_allowed - time.monotonic()))
                self._state.notify_all()

    def _execute(self) -> bool:
        """Run the command; output goes to a file, as a daemonizing HAProxy keeps it open."""
        self.reloads += 1
        with tempfile.TemporaryFile() as out:
            try:
                rc = run_shell(self.command, out, self.timeout)
            except subprocess.TimeoutExpired:
                rc = -1
            out.seek(0)
            text = out.read(4000).decode(errors="replace").strip()
        if rc != 0:
            self.failures += 1
            log.error("reload_command failed (exit %s): %s", rc, text)
        else:
            log.info("HAProxy reloaded (%d)%s", self.reloads, f": {text}" if text else "")
        return rc == 0


def run_shell(command: str, out, timeout: float) -> int:
    """Run a shell line in its own session (so HAProxy outlives us), output to `out`."""
    proc = subprocess.run(
        command,
        shell=True,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        timeout=timeout,
        check=False,
    )
    return proc.returncode
