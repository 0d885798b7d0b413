"""The signals both daemons answer, as their Ruby counterparts and systemd units expect.

A handler runs on the main thread between two bytecodes, maybe while that thread holds the lock
of the very event it would set (inside `Event.wait`): setting it there can deadlock the daemon
(seen: a SIGTERM that never led to STOPPING). So a handler only writes the signal's number to a
pipe; a small thread reads the pipe and sets the events, and the main loop acts on them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading


def install_signals(stop: threading.Event, reload: threading.Event) -> None:
    """SIGTERM and SIGINT set `stop`, SIGHUP sets `reload` (through the relay thread)."""
    events = {signal.SIGTERM: stop, signal.SIGINT: stop, signal.SIGHUP: reload}
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)

    def relay() -> None:
        while data := os.read(read_end, 64):
            for number in data:
                events[signal.Signals(number)].set()

    threading.Thread(target=relay, name="signals", daemon=True).start()

    def handler(number: int, _frame: object) -> None:
        with contextlib.suppress(BlockingIOError):  # a full pipe: this one adds nothing
            os.write(write_end, bytes([number]))

    for number in events:
        signal.signal(number, handler)
