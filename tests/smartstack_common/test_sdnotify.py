"""sd_notify, written once in smartstack_common for both daemons."""

from __future__ import annotations

import os

import pytest
from support.notify import NotifyListener

import smartstack_common.sdnotify


@pytest.fixture
def sdnotify():
    return smartstack_common.sdnotify


@pytest.fixture
def listener():
    lst = NotifyListener(abstract=True)
    yield lst
    lst.close()


def test_silent_without_notify_socket(sdnotify):
    n = sdnotify.Notifier({})
    assert not n.enabled and n.watchdog_interval is None
    assert n.send("READY=1") is False
    assert n.tick(0.5) == 0.5


def test_unreachable_socket_is_not_an_error(sdnotify, tmp_path):
    n = sdnotify.Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    assert n.send("READY=1") is False


def test_watchdog_pings_at_half_the_interval_only_when_healthy(sdnotify, listener):
    n = sdnotify.Notifier({**listener.env(watchdog_usec=4_000_000)})
    assert n.watchdog_interval == 2.0 and n.tick(5.0) == 2.0
    n.watchdog(healthy=False)
    n.watchdog(healthy=True)
    n.watchdog(healthy=True)  # within the interval: not sent again
    n.ready("up")
    listener.wait_for("READY", 5)
    assert listener.messages == [{"WATCHDOG": "1"}, {"READY": "1", "STATUS": "up"}]


def test_watchdog_meant_for_another_pid_is_ignored(sdnotify, listener):
    env = {**listener.env(watchdog_usec=1_000_000), "WATCHDOG_PID": str(os.getpid() + 1)}
    assert sdnotify.Notifier(env).watchdog_interval is None
    env["WATCHDOG_PID"] = str(os.getpid())
    assert sdnotify.Notifier(env).watchdog_interval == 0.5


def test_reloading_carries_monotonic_usec(sdnotify, listener):
    sdnotify.Notifier(listener.env()).reloading()
    listener.wait_for("RELOADING", 5)
    assert int(listener.messages[0]["MONOTONIC_USEC"]) > 0
