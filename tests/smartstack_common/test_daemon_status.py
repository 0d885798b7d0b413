"""smartstack_common.daemon_status: running means a fresh status file and a live pid."""

from __future__ import annotations

import os
import subprocess
import sys

from smartstack_common.daemon_status import daemon_state, read_document


def test_fresh_with_a_live_pid_is_running():
    state = daemon_state("d", "/s", {"updated": 100.0, "pid": os.getpid()}, now=105.0)
    assert state.running and state.pid == os.getpid()


def test_stale_is_not_running():
    state = daemon_state("d", "/s", {"updated": 100.0, "pid": os.getpid()}, now=110.0)
    assert not state.running
    assert state.why == "d is not running (status in /s is 10s old)"


def test_an_exited_pid_is_not_running_while_the_file_is_fresh():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid names no process
    state = daemon_state("d", "/s", {"updated": 100.0, "pid": child.pid}, now=101.0)
    assert not state.running
    assert state.why == f"d is not running (pid {child.pid} has exited)"


def test_a_missing_or_foreign_file_is_not_running(tmp_path):
    assert read_document(str(tmp_path / "none.json")) == {}
    (tmp_path / "list.json").write_text("[1]")
    assert read_document(str(tmp_path / "list.json")) == {}
    state = daemon_state("d", "/s", {"updated": True, "pid": "1"})
    assert not state.running and state.why == "d is not running (no status in /s)"
