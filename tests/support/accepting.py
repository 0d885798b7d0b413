"""The accept loop of the tests' scripted loopback servers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


def accept_until(
    sock: socket.socket, stop: threading.Event, handle: Callable[[socket.socket], None]
) -> None:
    """Hand each connection `sock` accepts to `handle` until `stop` is set or `sock` is closed."""
    sock.settimeout(0.1)  # accept() wakes up to see `stop`
    while not stop.is_set():
        try:
            conn, _ = sock.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        handle(conn)
