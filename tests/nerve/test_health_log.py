"""What nerve-py logs about health (health_log.py): the reason a check fails, once per run of
failures and at every transition, and why a service has no node, at a bounded rate."""

from __future__ import annotations

import logging
import socket

import pytest
from support.nerve_watcher import FakeReporter, service

from nerve_py.health_log import NOT_REGISTERED_FIRST, NOT_REGISTERED_MAX
from nerve_py.service_watcher import ServiceWatcher
from nerve_py.state import StateDir


@pytest.fixture
def state(tmp_path) -> StateDir:
    state = StateDir(str(tmp_path / "state"))
    state.ensure()
    return state


class Port:
    """A loopback port a tcp check passes on while `open`, and is refused on once closed."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.create_server(("127.0.0.1", port), backlog=64)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


def lines(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_the_first_failure_and_each_transition_are_logged_not_every_failure(state, caplog):
    # today: with fall 3 the first failure says nothing; only "is now down" tells, 3 rounds late
    port = Port()
    check = {"type": "tcp", "port": port.port, "rise": 2, "fall": 3, "timeout": 1}
    watcher = ServiceWatcher(service(check), FakeReporter(), state)
    name = f"tcp-127.0.0.1:{port.port}"
    with caplog.at_level(logging.INFO):
        watcher.tick()
        port.close()
        for _ in range(6):
            watcher.tick()
    assert lines(caplog, name) == [
        f"web: check {name} is now up (ok)",
        f"web: check {name} failed (connection refused); down after 3 failures in a row",
        f"web: check {name} is now down (connection refused)",
    ]
    down = next(r for r in caplog.records if "is now down" in r.getMessage())
    assert down.levelno == logging.WARNING


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ticks_over(watcher: ServiceWatcher, clock: Clock, seconds: float, step: float = 1) -> None:
    for _ in range(int(seconds / step)):
        clock.now += step
        watcher.tick()


def test_why_a_service_never_registers_is_logged_at_a_bounded_rate(state, caplog):
    # today: a service whose check never passes logs its first result, then nothing for ever
    watcher = ServiceWatcher(service({"type": "tcp", "timeout": 1}), FakeReporter(), state)
    clock = watcher.not_registered.clock = Clock()
    with caplog.at_level(logging.WARNING):
        ticks_over(watcher, clock, 3600)
    found = lines(caplog, "not registered")
    assert found[0] == (
        "web: not registered for 10s: check tcp-127.0.0.1:1 has never passed "
        "(last: connection refused)"
    )
    # 10, 20, 40 ... s apart, then every NOT_REGISTERED_MAX: a handful of lines an hour
    assert len(found) <= 7 + 3600 / NOT_REGISTERED_MAX
    assert NOT_REGISTERED_FIRST == 10


def test_the_reason_names_a_rising_check_and_an_unreachable_zookeeper(state, caplog):
    port = Port()
    check = {"type": "tcp", "port": port.port, "rise": 100, "timeout": 1}
    watcher = ServiceWatcher(service(check), FakeReporter(), state)
    clock = watcher.not_registered.clock = Clock()
    watcher.tick()  # the first result is adopted: up, registered
    port.close()
    watcher.tick()  # down (fall 1): deregistered
    port = Port(port.port)
    with caplog.at_level(logging.WARNING):
        ticks_over(watcher, clock, 10)
    port.close()
    assert lines(caplog, "not registered") == [
        f"web: not registered for 10s: check tcp-127.0.0.1:{port.port} is rising: "
        "10 of rise 100 passes"
    ]

    caplog.clear()
    up = ServiceWatcher(service({"type": "noop"}), FakeReporter(failing=True), state)
    clock = up.not_registered.clock = Clock()
    up.tick()  # connected at first (a first round waits for the session), then cut off
    up.reporter.conn.connected = False
    up.reporter.conn.hosts = "zk1:2181"
    with caplog.at_level(logging.WARNING):
        ticks_over(up, clock, 10)
    assert lines(caplog, "not registered") == [
        "web: not registered for 10s: ZooKeeper at zk1:2181 unreachable; retrying"
    ]


def test_a_registered_service_logs_no_reason(state, caplog):
    watcher = ServiceWatcher(service({"type": "noop"}), FakeReporter(), state)
    clock = watcher.not_registered.clock = Clock()
    with caplog.at_level(logging.WARNING):
        ticks_over(watcher, clock, 100)
    assert lines(caplog, "not registered") == []
