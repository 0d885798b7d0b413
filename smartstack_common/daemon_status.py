"""Whether a daemon runs, as its status file tells: the file both `status` commands read.

Each daemon rewrites its status file (JSON with `updated`, the wall-clock time, and `pid`) at
least every few seconds. A reader calls it running only if the file is fresh *and* the pid is
alive: freshness alone would call a daemon stopped a second ago running for the next
`stale_after` seconds, and the pid alone would call a hung daemon (or a reused pid) running.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

#: a status file older than this (seconds) is stale: its daemon writes one at least every 3 s
STALE_AFTER = 10.0


@dataclass(frozen=True)
class DaemonState:
    """What a status file says about its daemon."""

    running: bool
    pid: int | None
    updated: float | None  # wall-clock seconds, as written
    why: str  # one line for a person: "running (pid 12)", "not running: ..."

    def as_json(self) -> dict:
        return {"running": self.running, "pid": self.pid, "updated": self.updated}


def read_document(path: str) -> dict:
    """The status file's JSON object, or {} if it is missing or not one."""
    try:
        with open(path, encoding="utf-8") as f:
            found = json.load(f)
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def daemon_state(
    prog: str, path: str, document: dict, now: float | None = None, stale_after: float = STALE_AFTER
) -> DaemonState:
    """Judge `document` (read from `path`) as described in the module docstring."""
    now = time.time() if now is None else now
    updated, pid = _number(document.get("updated")), document.get("pid")
    pid = pid if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 else None
    if updated is None:
        return DaemonState(False, pid, None, f"{prog} is not running (no status in {path})")
    if now - updated >= stale_after:
        why = f"{prog} is not running (status in {path} is {now - updated:.0f}s old)"
        return DaemonState(False, pid, updated, why)
    if pid is not None and not pid_alive(pid):
        return DaemonState(False, pid, updated, f"{prog} is not running (pid {pid} has exited)")
    return DaemonState(True, pid, updated, f"{prog} is running (pid {pid})")


def pid_alive(pid: int) -> bool:
    """A process with this pid exists (one of another user's counts: EPERM)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
