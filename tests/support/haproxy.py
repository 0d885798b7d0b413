"""A master-worker HAProxy owned by one test: paths, the reload command, traffic and teardown."""

from __future__ import annotations

import os
import shlex
import signal
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

HAPROXY = "/usr/sbin/haproxy"


def reload_command(haproxy: str, config: str, pidfile: str) -> str:
    """Reload the master with SIGUSR2 when it runs; otherwise start a daemonized master-worker.

    A killed master can linger as a zombie where nothing reaps orphans (containers): not running.
    """
    h, c, p = (shlex.quote(x) for x in (haproxy, config, pidfile))
    return (
        f'if [ -s {p} ] && grep -qs "^State:[[:space:]]*[RSDTtIWPK]" "/proc/$(cat {p})/status"; '
        f'then kill -USR2 "$(cat {p})"; else {h} -W -D -p {p} -f {c}; fi'
    )


class HaproxyFiles:
    """Where one test's HAProxy keeps its config, pid file and admin socket."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.config = str(folder / "haproxy.cfg")
        self.pidfile = str(folder / "haproxy.pid")
        # unix socket paths are limited to ~107 bytes: keep it short, outside pytest's long tmp path
        self._sock_dir = tempfile.mkdtemp(prefix="hx-")
        self.socket = os.path.join(self._sock_dir, "admin.sock")

    @property
    def reload_command(self) -> str:
        return reload_command(HAPROXY, self.config, self.pidfile)

    def master_pid(self) -> int | None:
        """The master's pid from the pid file, only if that process is our haproxy."""
        try:
            pid = int(Path(self.pidfile).read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return None
        return pid if b"haproxy" in cmdline and self.config.encode() in cmdline else None

    def stop_master(self, timeout: float = 5.0) -> None:
        """Stop our master (it takes its workers along); never by name."""
        pid = self.master_pid()
        if pid is None and os.path.exists(self.socket):
            # started, but the master may not have written its pid file yet
            wait_for(lambda: self.master_pid() is not None, 3)
            pid = self.master_pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            if not wait_for(lambda: not _alive(pid), timeout):
                os.kill(pid, signal.SIGKILL)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop HAProxy and remove the socket folder."""
        self.stop_master(timeout)
        if not os.path.isdir(self._sock_dir):
            return
        for name in os.listdir(self._sock_dir):
            os.unlink(os.path.join(self._sock_dir, name))
        os.rmdir(self._sock_dir)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = (
        Path(f"/proc/{pid}/stat").read_text().split()[2] if os.path.exists(f"/proc/{pid}") else "X"
    )
    return state != "Z"


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate` until it holds; False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def get(port: int, timeout: float = 2.0, host: str = "127.0.0.1") -> str | None:
    """One HTTP GET through the frontend on a fresh connection; None when it fails."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/", timeout=timeout) as resp:
            return resp.read().decode()
    except (urllib.error.URLError, OSError):
        return None


def spread(port: int, requests: int = 30) -> Counter:
    """Which backends answered `requests` requests through the frontend (None: a failure)."""
    return Counter(get(port) for _ in range(requests))
