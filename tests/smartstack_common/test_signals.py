"""install_signals: the handlers only write to a pipe; the relay thread sets the events."""

from __future__ import annotations

import os
import signal
import threading

from smartstack_common.signals import install_signals


def test_signals_set_the_events_through_the_relay():
    saved = {n: signal.getsignal(n) for n in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    stop, reload = threading.Event(), threading.Event()
    try:
        install_signals(stop, reload)
        os.kill(os.getpid(), signal.SIGHUP)
        assert reload.wait(5) and not stop.is_set()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


def test_a_signal_while_the_main_thread_waits_on_the_event_never_deadlocks():
    """The main loop waits on `stop` with a short timeout, over and over; a handler that set
    the event itself could run while this thread holds the event's lock, and hang for good."""
    saved = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    stop, reload = threading.Event(), threading.Event()
    try:
        install_signals(stop, reload)
        for _ in range(200):
            os.kill(os.getpid(), signal.SIGHUP)
            reload.wait(0.0001)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5) and reload.is_set()
    finally:
        signal.signal(signal.SIGTERM, saved[0])
        signal.signal(signal.SIGHUP, saved[1])
