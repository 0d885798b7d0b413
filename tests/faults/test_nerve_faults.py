"""Scenarios 3, 4 and 9: nerve-py paused, killed over and over, or watching a flapping check."""

from __future__ import annotations

import random
import signal
import time

import pytest
from support.fleet import SESSION, child_changes, children, registered
from support.procs import wait_for
from support.traffic import Traffic

pytestmark = pytest.mark.integration


def test_paused_past_session_timeout_re_registers(fleet, zk, http_backend):
    """3. SIGSTOP past the session timeout, then SIGCONT: nerve notices the expiry, re-registers."""
    a, b = http_backend(), http_backend()
    rig = fleet.nerve("host-1", [a, b])
    proc = rig.start()
    path = rig.path("web")
    wait_for(lambda: registered(zk, path) == {a.port, b.port}, 15)
    old = set(children(zk, path))
    proc.signal(signal.SIGSTOP)
    try:
        wait_for(lambda: not children(zk, path), SESSION + 10, 0.2, "the paused session expired")
    finally:
        proc.signal(signal.SIGCONT)
    wait_for(lambda: registered(zk, path) == {a.port, b.port}, 15, 0.1, "re-registered")
    assert not old & set(children(zk, path))  # new nodes of a new session


def test_killed_and_restarted_ten_times_leaves_one_node_each(fleet, zk, http_backend):
    """4. kill -9 and restart at once, 10 times: exactly one node per service afterwards."""
    a, b = http_backend(), http_backend()
    rig = fleet.nerve("host-1", [a, b])
    path = rig.path("web")
    for _ in range(10):
        proc = rig.start()
        time.sleep(random.uniform(0.3, 1.5))
        proc.kill()
    rig.start()
    wait_for(lambda: registered(zk, path) == {a.port, b.port}, 15, 0.1, "one node each")
    time.sleep(SESSION + 1.5)  # the killed processes' sessions have expired by now
    assert registered(zk, path) == {a.port, b.port}


FLAP_SECONDS = 6
RATE = {"average_rate": 0.5, "max_burst": 2, "shadow_mode": False}  # Ruby: shadow logs only


def test_flapping_check_is_bounded_and_never_reloads(fleet, zk, http_backend):
    """9. A check that flips on every run: writes bounded by rise/fall and rate_limiting."""
    steady, damped, limited = http_backend(), http_backend(), http_backend()
    fleet.nerve("host-1", [steady, limited], rate_limiting=RATE).start()
    checks = [{"type": "http", "uri": "/health", "timeout": 1, "rise": 2, "fall": 2}]
    calm = fleet.nerve("host-2", [damped], service="calm", checks=checks)
    calm.start()
    port = fleet.serve(steady, limited)
    web, calm_path = fleet.synapse.path("web"), calm.path("calm")
    wait_for(lambda: registered(zk, calm_path) == {damped.port}, 15)
    before = {p: child_changes(zk, p) for p in (web, calm_path)}
    pid = fleet.synapse.worker_pid()
    with Traffic(port) as traffic:
        damped.flapping = limited.flapping = True
        time.sleep(FLAP_SECONDS)
        damped.flapping = limited.flapping = False
        damped.healthy = limited.healthy = True
        fleet.wait_live((steady, limited), timeout=10)
    writes = {p: child_changes(zk, p) - n for p, n in before.items()}
    assert writes[calm_path] == 0  # rise/fall 2 never sees two equal results in a row
    bound = RATE["max_burst"] + RATE["average_rate"] * (FLAP_SECONDS + 10) + 1
    assert 2 <= writes[web] <= bound  # unlimited, it would be one per 0.2 s check
    assert traffic.failures == 0 and traffic.served > 50
    assert fleet.synapse.worker_pid() == pid
