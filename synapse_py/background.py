"""A thread that handles only the newest of the items handed to it: `LatestOnly`.

Used where the reconciler's thread must not wait for a slow write whose older versions are
worthless once a newer one exists (the state file; haproxy.cfg once the runtime API applied the
change). A submission replaces one still pending. A failed item (OSError: disk full, a folder
gone) is logged, counted in `failures` and retried every `retry` seconds unless a newer one came.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class LatestOnly(Generic[T]):
    """One thread that runs `handle(item)` for the newest submitted item."""

    def __init__(self, name: str, handle: Callable[[T], object], retry: float = 2.0):
        self.name = name
        self.failures = 0  # failed attempts in all
        self._handle = handle
        self._retry = retry
        self._cond = threading.Condition()
        self._pending: T | None = None
        self._busy = False
        self._stopped = False
        self._failing = 0  # failed attempts in a row
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> None:
        with self._cond:
            self._pending = item
            self._cond.notify_all()

    def cancel(self) -> None:
        """Drop what is pending (a newer version is about to be handled elsewhere)."""
        with self._cond:
            self._pending = None

    def flush(self, timeout: float) -> bool:
        """Wait until nothing is pending or being handled; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Handle what is pending (bounded by `timeout`), then end the thread."""
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
            assert item is not None
            ok = self._attempt(item)
            with self._cond:
                self._busy = False
                if not ok and self._pending is None:
                    self._pending = item  # retry it unless something newer came
                self._cond.notify_all()
                if not ok:
                    self._cond.wait(self._retry)

    def _attempt(self, item: T) -> bool:
        try:
            self._handle(item)
        except OSError as exc:
            self.failures += 1
            self._failing += 1
            log.error("%s: %s (%d failed writes in a row); retrying in %gs",
                      self.name, exc, self._failing, self._retry)  # fmt: skip
            return False
        except Exception:  # noqa: BLE001 - a bug must not end the thread
            log.exception("%s failed", self.name)
        self._failing = 0
        return True
