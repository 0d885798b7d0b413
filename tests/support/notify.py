"""A stand-in for systemd's side of sd_notify: a unix datagram socket the test binds."""

from __future__ import annotations

import os
import socket
import tempfile
import time
import uuid


class NotifyListener:
    """Bound on a path (or an abstract name when `abstract`); collects each datagram's fields."""

    def __init__(self, abstract: bool = False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"smartstack-test-{uuid.uuid4().hex}"
            self.sock.bind(b"\0" + name.encode())
            self.env_value = f"@{name}"
        else:
            self._dir = tempfile.mkdtemp(prefix="notify-")  # short: unix paths max ~107 bytes
            self.env_value = os.path.join(self._dir, "notify.sock")
            self.sock.bind(self.env_value)
        self.messages: list[dict[str, str]] = []

    def env(self, watchdog_usec: int | None = None) -> dict[str, str]:
        env = {"NOTIFY_SOCKET": self.env_value}
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        return env

    def wait_for(self, key: str, timeout: float, after: int = 0) -> int:
        """Index of the first message from `after` on that has `key`; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            for i, fields in enumerate(self.messages[after:], after):
                if key in fields:
                    return i
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {key} within {timeout}s; got {self.messages}")
            self._receive(left)

    def count(self, key: str) -> int:
        return sum(key in m for m in self.messages)

    def _receive(self, timeout: float) -> None:
        self.sock.settimeout(min(timeout, 0.5))
        try:
            data = self.sock.recv(4096)
        except TimeoutError:
            return
        fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
        self.messages.append(fields)

    def close(self) -> None:
        self.sock.close()
        if not self.env_value.startswith("@"):
            os.unlink(self.env_value)
            os.rmdir(self._dir)
