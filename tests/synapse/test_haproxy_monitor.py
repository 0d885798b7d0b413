"""HaproxyMonitor's judgement, probing a socket path where nothing listens (HAProxy gone)."""

from __future__ import annotations

import threading

from synapse_py.proxy.haproxy_monitor import MISSES, HaproxyMonitor
from synapse_py.proxy.haproxy_socket import HaproxySocket


def monitor(tmp_path) -> tuple[HaproxyMonitor, list[bool]]:
    recovered: list[bool] = []
    mon = HaproxyMonitor(
        HaproxySocket(str(tmp_path / "admin.sock"), timeout=0.2),
        threading.RLock(),
        recovered.append,
        lambda: None,
    )
    return mon, recovered


def run_ticks(mon: HaproxyMonitor, count: int) -> None:
    for _ in range(count):
        action = mon._tick()
        if action:
            action()


def test_nothing_is_recovered_before_haproxy_should_run(tmp_path):
    mon, recovered = monitor(tmp_path)
    run_ticks(mon, MISSES + 2)
    assert recovered == [] and not mon.down


def test_haproxy_killed_before_its_first_worker_answered_is_recovered(tmp_path):
    """synapse-py started HAProxy, which died before its worker was seen: it is restarted (the
    monitor used to wait forever for a first answer)."""
    mon, recovered = monitor(tmp_path)
    mon.reloading()
    mon.reloaded(None)  # the reload ran, no new worker answered in time
    run_ticks(mon, MISSES)
    assert mon.down and recovered == [True]  # the socket file is missing, too
