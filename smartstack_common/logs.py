"""Log set-up for `run`: plain lines for people, or one JSON object per line for machines."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """{"ts", "level", "logger", "msg"} plus "service" when the event names one, and "exc"."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
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


def setup_logging(level: str, fmt: str = "text") -> None:
    """Log to stderr at `level` in `fmt` ("text" or "json"); kazoo only from WARNING up."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))
    logging.getLogger("kazoo").setLevel(logging.WARNING)
