"""Installs haproxy.cfg off the reconciler's thread when HAProxy already runs what it describes.

After the runtime API has applied a membership change, the file on disk only has to catch up
(so a later reload reproduces the runtime state). Validating it (`haproxy -c`) and fsyncing it
takes ~100 ms; doing that here lets the next change reach HAProxy without waiting. Only the
newest text matters: a submission replaces one still pending. A failed write (disk full) is
logged, counted by the generator and retried every `retry` seconds with the newest text.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class BackgroundInstaller:
    """One thread that runs `install(item)` for the newest submitted item."""

    def __init__(self, install: Callable[[Any], object], retry: float = 2.0):
        self._install = install
        self._retry = retry
        self._cond = threading.Condition()
        self._pending: Any = None
        self._busy = False
        self._stopped = False
        self._failures = 0
        self._thread = threading.Thread(target=self._run, name="haproxy-install", daemon=True)
        self._thread.start()

    def submit(self, item: Any) -> None:
        with self._cond:
            self._pending = item
            self._cond.notify_all()

    def cancel(self) -> None:
        """Drop what is pending (a newer file is about to be installed synchronously)."""
        with self._cond:
            self._pending = None

    def flush(self, timeout: float) -> bool:
        """Wait until nothing is pending or being installed; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Install what is pending (bounded by `timeout`), then end the thread."""
        self.flush(timeout)
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._stopped)
                if self._stopped:
                    return
                item, self._pending, self._busy = self._pending, None, True
            ok = self._attempt(item)
            with self._cond:
                self._busy = False
                if not ok and self._pending is None:
                    self._pending = item  # retry it unless something newer came
                self._cond.notify_all()
                if not ok:
                    self._cond.wait(self._retry)

    def _attempt(self, item: Any) -> bool:
        try:
            self._install(item)
        except OSError as exc:
            self._failures += 1
            log.error(
                "%s (%d failed writes so far); retrying in %gs", exc, self._failures, self._retry
            )
            return False
        except Exception:  # noqa: BLE001 - a bug must not end the thread
            log.exception("installing haproxy.cfg failed")
        self._failures = 0
        return True
