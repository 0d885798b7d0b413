"""`tcp`: healthy when a TCP connection opens within the timeout."""

from __future__ import annotations

import socket
import time

from .base import Check, register


def open_connection(host: str, port: int, timeout: float) -> socket.socket:
    """A connected socket whose every operation is bounded by `timeout` seconds."""
    return socket.create_connection((host, port), timeout=timeout)


def read_line(sock: socket.socket, timeout: float, limit: int = 512) -> bytes:
    """Read up to the first CRLF; the whole read, not each recv, is bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\r\n" not in data and len(data) < limit:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = sock.recv(limit - len(data))
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0]


@register("tcp")
class TcpCheck(Check):
    """Passes when the port accepts a connection."""

    def check(self) -> bool:
        with open_connection(self.host, self.port, self.timeout):
            return True
