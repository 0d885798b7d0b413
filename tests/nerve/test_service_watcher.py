"""ServiceWatcher's Ruby nerve behaviours, with a stand-in reporter (no ZooKeeper)."""

from __future__ import annotations

import time

import pytest
from support.nerve_watcher import FakeReporter, service

from nerve_py.scheduler import Scheduler
from nerve_py.service_watcher import ServiceWatcher
from nerve_py.state import StateDir


@pytest.fixture
def state(tmp_path) -> StateDir:
    state = StateDir(str(tmp_path / "state"))
    state.ensure()
    return state


def test_the_first_result_registers_at_once_whatever_rise_says(state):
    reporter = FakeReporter()
    watcher = ServiceWatcher(service({"type": "noop", "rise": 3}), reporter, state)
    watcher.tick()
    assert reporter.synced == [True]
    assert watcher.settled.is_set()


def test_the_first_failure_is_final_too_and_fall_applies_afterwards(state):
    reporter = FakeReporter()
    watcher = ServiceWatcher(service({"type": "tcp", "fall": 3, "rise": 2}), reporter, state)
    watcher.tick()
    assert reporter.synced == [False]
    assert watcher.settled.is_set()


def test_check_mocked_reports_up_without_running_a_check(state):
    reporter = FakeReporter()
    svc = service({"type": "tcp"}, check_mocked=True)
    watcher = ServiceWatcher(svc, reporter, state)
    for _ in range(3):
        watcher.tick()
    assert reporter.synced == [True, True, True]
    assert watcher.results == []
    assert [s.passed + s.failed for s in watcher.stats] == [0]
    assert watcher.status()["check_mocked"] is True


def test_max_repeated_report_failures_restarts_the_watcher(state, caplog):
    reporter = FakeReporter(failing=True)
    watcher = ServiceWatcher(service({"type": "noop"}), reporter, state, max_failures=3)
    first_checks = watcher.checks
    for _ in range(7):
        watcher.tick()
    assert (watcher.restarts, reporter.rechecks) == (2, 2)
    assert watcher.checks is not first_checks  # fresh checks, as Ruby's relaunched watcher
    assert "3 reports failed in a row (max_repeated_report_failures)" in caplog.text


@pytest.mark.parametrize(
    ("node_type", "touched"),
    [("persistent", True), ("persistent_sequential", True), ("ephemeral_sequential", False)],
)
def test_ttl_seconds_touches_persistent_nodes_only(state, node_type, touched):
    scheduler = Scheduler(core_workers=1)
    scheduler.start()
    reporter = FakeReporter()
    svc = service({"type": "noop"}, node_type=node_type, ttl_seconds=0.1, check_interval=30)
    watcher = ServiceWatcher(svc, reporter, state, scheduler=scheduler)
    watcher.start()
    time.sleep(0.6)
    watcher.request_stop()
    assert (reporter.touches >= 3) is touched
    assert reporter.touches <= 7  # every ttl_seconds, not faster


def test_the_first_round_waits_briefly_for_the_zookeeper_session(state):
    reporter = FakeReporter()
    reporter.conn.connected = False
    watcher = ServiceWatcher(service({"type": "noop"}, check_interval=30), reporter, state)
    assert watcher.interval == 0.1
    watcher.tick()
    assert reporter.synced == []  # held: nothing checked, nothing reported
    reporter.conn.connected = True
    assert watcher.interval == 30
    watcher.tick()
    assert reporter.synced == [True]
    reporter.conn.connected = False
    assert watcher.interval == 30  # only the first round waits


def test_changes_counts_status_changes_not_rounds(state):
    """The daemon rewrites status.json on a change of `changes`: a steady round is none."""
    reporter = FakeReporter()
    watcher = ServiceWatcher(service({"type": "noop"}), reporter, state)
    watcher.tick()
    first = watcher.changes
    watcher.tick()
    watcher.tick()
    assert watcher.changes == first  # same health, node and results: no change
    state.set_maintenance("web", True)
    watcher.tick()
    assert watcher.changes == first + 1  # in maintenance, the node deleted
    state.set_maintenance("web", False)
    watcher.tick()
    assert watcher.changes == first + 2
    watcher.stop()
    assert watcher.changes == first + 3  # the node went with the deregistration
