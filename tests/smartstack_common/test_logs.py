"""`--log-format json`: one JSON object per line, with the service when the event names one."""

from __future__ import annotations

import json
import logging
import sys

import pytest

import smartstack_common.logs


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
