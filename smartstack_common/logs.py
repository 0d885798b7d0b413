"""Log set-up for `run`: plain lines for people, or one JSON object per line for machines.

Under systemd, stderr is a stream to journald, which sets `JOURNAL_STREAM` to that stream's
`device:inode`. When stderr is that stream, every line starts with `<N>` (N the syslog severity):
journald reads the prefix as the entry's PRIORITY and strips it (`SyslogLevelPrefix=`, on by
default), so `journalctl -p warning` works without a journal library. Elsewhere (a terminal, a
file, a pipe to another shipper) no prefix is written; JSON lines carry `priority` either way.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Python level floor -> syslog severity (RFC 5424): what journald stores as PRIORITY
SYSLOG_SEVERITIES = (
    (logging.CRITICAL, 2),
    (logging.ERROR, 3),
    (logging.WARNING, 4),
    (logging.INFO, 6),
)
DEBUG_SEVERITY = 7


def syslog_priority(levelno: int) -> int:
    """The syslog severity of a Python level: critical 2, error 3, warning 4, info 6, debug 7."""
    return next((sev for floor, sev in SYSLOG_SEVERITIES if levelno >= floor), DEBUG_SEVERITY)


class JsonFormatter(logging.Formatter):
    """{"ts", "level", "priority", "logger", "msg"}, "service" when the event names one, "exc"."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "priority": syslog_priority(record.levelno),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        service = service_of(record)
        if service:
            entry["service"] = service
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def service_of(record: logging.LogRecord) -> str | None:
    """`extra={"service": ...}`, else the leading "%s: " argument our messages start with."""
    explicit = getattr(record, "service", None)
    if explicit:
        return str(explicit)
    args = record.args if isinstance(record.args, tuple) else ()
    if isinstance(record.msg, str) and record.msg.startswith("%s: ") and args:
        return str(args[0])
    return None


class JournalPrefix(logging.Formatter):
    """Another formatter's output, `<N>` before each of its lines (a traceback spans several)."""

    def __init__(self, inner: logging.Formatter):
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in self.inner.format(record).split("\n"))


def is_journal_stream(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """`stream` is the journald stream systemd named in JOURNAL_STREAM (`device:inode`)."""
    try:
        device, inode = (int(part) for part in environ.get("JOURNAL_STREAM", "").split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError):  # unset or malformed, or a stream without a descriptor
        return False
    return (st.st_dev, st.st_ino) == (device, inode)


def setup_logging(level: str, fmt: str = "text") -> None:
    """Log to stderr at `level` in `fmt` ("text" or "json"); kazoo only from WARNING up.

    Lines get journald's `<N>` priority prefix when stderr is the journal (see the module doc)."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(JournalPrefix(formatter) if is_journal_stream(sys.stderr) else formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))
    logging.getLogger("kazoo").setLevel(logging.WARNING)
