"""The contract every health check plugin implements.

A check is built once from its config and called from one service watcher thread. `check()` returns
True when the service answered as healthy. It must finish within `timeout` seconds and may raise
any exception: the caller (ServiceWatcher via `run_check`) treats an exception as a failure.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any


class CheckConfigError(ValueError):
    """A check's own keys are wrong (raised at construction time)."""


class Check(ABC):
    """A health check of one kind (`type` in the config)."""

    #: keys this check type accepts besides the common ones (type, name, host, port, timeout, rise, fall)
    own_keys: frozenset[str] = frozenset()

    def __init__(self, conf: Mapping[str, Any], host: str, port: int):
        self.conf = dict(conf)
        self.host = str(conf.get("host", host))
        self.port = int(conf.get("port", port))
        self.timeout = float(conf.get("timeout", 0.1))
        self.name = str(conf.get("name") or f"{conf['type']}-{self.host}:{self.port}")

    @abstractmethod
    def check(self) -> bool:
        """Probe the service once; True when healthy."""

    def close(self) -> None:
        """Release anything the check holds (sessions, sockets)."""
