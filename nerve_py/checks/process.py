"""`process`: healthy while a process is alive, found by `pid_file` or by `process_name`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil

from .base import Check, CheckConfigError, CheckFailed, register, str_key


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def pid_from_file(path: Path) -> int:
    """The pid a pid file holds; CheckFailed when it is missing or holds anything else."""
    try:
        text = path.read_text(errors="replace").strip()
    except OSError as exc:
        raise CheckFailed(f"pid file {str(path)!r} unreadable: {exc.strerror}") from exc
    if not text.isdigit() or int(text) < 1:
        raise CheckFailed(f"pid file {str(path)!r} holds no pid: {text[:40]!r}")
    return int(text)


@register("process")
class ProcessCheck(Check):
    """Passes while the process named by `pid_file` or `process_name` (exactly one) is alive."""

    own_keys = frozenset({"pid_file", "process_name"})

    def __init__(self, conf: Mapping[str, Any], host: str, port: int):
        super().__init__(conf, host, port)
        self.pid_file = str_key(conf, "pid_file")
        self.process_name = str_key(conf, "process_name")
        if (self.pid_file is None) == (self.process_name is None):
            raise CheckConfigError("check key 'pid_file' or 'process_name': give exactly one")

    def check(self) -> bool:
        if self.pid_file is not None:
            return self._pid_alive(pid_from_file(Path(self.pid_file)))
        assert self.process_name is not None  # __init__ requires exactly one of the two
        return self._name_alive(self.process_name)

    @staticmethod
    def _pid_alive(pid: int) -> bool:
        try:
            alive = _alive(psutil.Process(pid))
        except psutil.Error:
            alive = False
        if not alive:
            raise CheckFailed(f"pid {pid} is not running")
        return True

    @staticmethod
    def _name_alive(name: str) -> bool:
        for proc in psutil.process_iter(["name"]):
            if proc.info["name"] == name and _alive(proc):
                return True
        raise CheckFailed(f"no running process named {name!r}")
