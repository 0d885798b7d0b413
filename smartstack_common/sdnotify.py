"""systemd's notify protocol (sd_notify(3)), written by hand over a unix datagram socket.

Does nothing unless systemd set NOTIFY_SOCKET (a path, or an abstract name starting with '@').
A failed send is logged once and never raised: notification must not take the daemon down.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """READY/RELOADING/STOPPING/WATCHDOG messages to the service manager, if there is one."""

    def __init__(self, environ: Mapping[str, str] = os.environ):
        self.socket_name = environ.get("NOTIFY_SOCKET", "")
        self.address = _address(self.socket_name)
        self.watchdog_interval = _watchdog_interval(environ)
        self._last_ping = float("-inf")
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def ready(self, status: str = "") -> None:
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> None:
        # systemd >= 253 wants MONOTONIC_USEC with RELOADING=1 to tell this reload from a stale one
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def tick(self, period: float) -> float:
        """The main loop's wait: `period`, shortened so pings keep to half of WATCHDOG_USEC."""
        return min(period, self.watchdog_interval or period)

    def watchdog(self, healthy: bool) -> None:
        """Ping at half of WATCHDOG_USEC; call on every main-loop tick, with the loop's health."""
        now = time.monotonic()
        if not healthy or self.watchdog_interval is None:
            return
        if now - self._last_ping >= self.watchdog_interval:
            self._last_ping = now
            self.send("WATCHDOG=1")

    def send(self, *fields: str) -> bool:
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(fields).encode(), self.address)
        except OSError as e:
            if not self._warned:
                log.warning("cannot notify systemd at %s: %s", self.socket_name, e)
                self._warned = True
            return False
        return True


def _address(value: str) -> str | bytes | None:
    if value.startswith("@"):
        return b"\0" + value[1:].encode()  # abstract namespace
    return value if value.startswith("/") else None


def _watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Half of WATCHDOG_USEC, when the watchdog is meant for this process."""
    pid = environ.get("WATCHDOG_PID")
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
        if pid is not None and int(pid) != os.getpid():
            return None
    except ValueError:
        return None
    return usec / 2 / 1e6 if usec > 0 else None
