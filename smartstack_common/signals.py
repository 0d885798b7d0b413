"""The signals both daemons answer, as their Ruby counterparts and systemd units expect."""

from __future__ import annotations

import signal
import threading


def install_signals(stop: threading.Event, reload: threading.Event) -> None:
    """SIGTERM and SIGINT set `stop`, SIGHUP sets `reload`; the main loop acts on them.

    A handler only sets an event: the work happens on the main loop, never inside the handler.
    """
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: reload.set())
