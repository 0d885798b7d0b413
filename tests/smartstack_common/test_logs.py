"""`--log-format json`: one JSON object per line, with the service when the event names one."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import smartstack_common.logs

ROOT = str(Path(__file__).resolve().parents[2])  # the checkout, for the child's imports


@pytest.fixture
def logs():
    """The one log set-up both CLIs call (smartstack_common)."""
    return smartstack_common.logs


def _format(logs, msg: str, *args, exc_info=None, **extra) -> dict:
    record = logging.LogRecord("x.y", logging.WARNING, __file__, 1, msg, args, exc_info)
    record.__dict__.update(extra)
    return json.loads(logs.JsonFormatter().format(record))


def test_json_line_has_the_fields(logs):
    entry = _format(logs, "%s: check %s is now %s (%s)", "web", "http", "down", "HTTP 503")
    assert entry["level"] == "warning" and entry["logger"] == "x.y"
    assert entry["msg"] == "web: check http is now down (HTTP 503)"
    assert entry["service"] == "web"
    assert entry["ts"].endswith("+00:00")


def test_service_only_when_known(logs):
    assert "service" not in _format(logs, "config reloaded: %d service(s)", 2)
    assert _format(logs, "reload deferred", service="api")["service"] == "api"


def test_exception_is_kept_in_the_same_line(logs):
    try:
        raise ValueError("boom")
    except ValueError:
        entry = _format(logs, "failed", exc_info=sys.exc_info())
    assert "ValueError: boom" in entry["exc"]


@pytest.mark.parametrize(
    "level, priority",
    [(logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6),
     (logging.DEBUG, 7)],
)  # fmt: skip
def test_json_carries_the_syslog_priority(logs, level, priority):
    record = logging.LogRecord("x", level, __file__, 1, "m", (), None)
    assert json.loads(logs.JsonFormatter().format(record))["priority"] == priority


def _run_logging(tmp_path, env: dict, fmt: str) -> str:
    """A child process that logs a warning and an error with a traceback, stderr to a file."""
    code = (
        "import logging; from smartstack_common.logs import setup_logging;"
        f"setup_logging('info', {fmt!r}); log = logging.getLogger('t'); log.warning('careful');"
        "\ntry:\n  1/0\nexcept ZeroDivisionError:\n  log.exception('broke')"
    )
    err = tmp_path / "stderr"
    with err.open("w") as stream:
        st = os.fstat(stream.fileno())
        journal = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"} if env.get("journal") else {}
        subprocess.run(
            [sys.executable, "-c", code],
            stderr=stream,
            env={**os.environ, "PYTHONPATH": ROOT, **journal},
            timeout=60,
            check=True,
        )
    return err.read_text()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_journal_stream_gets_the_priority_prefix_on_every_line(tmp_path, fmt):
    """journald reads `<N>` as the line's PRIORITY (SyslogLevelPrefix=yes is its default)."""
    lines = _run_logging(tmp_path, {"journal": True}, fmt).splitlines()
    assert lines[0].startswith("<4>") and "careful" in lines[0]
    assert all(line.startswith("<3>") for line in lines[1:]) and len(lines) > 1
    if fmt == "json":
        assert json.loads(lines[0][3:])["priority"] == 4


def test_no_prefix_unless_stderr_is_the_journal(tmp_path, monkeypatch):
    assert not _run_logging(tmp_path, {}, "text").startswith("<")
    monkeypatch.setenv("JOURNAL_STREAM", "1:2")  # another stream's (a child of a journald unit)
    assert not _run_logging(tmp_path, {}, "text").startswith("<")
