"""What every benchmark shares: ZooKeeper, registrations, the backend pool, a synapse-py + HAProxy.

The real-server helpers come from tests/support (run.py puts tests/ on sys.path).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
from kazoo.client import KazooClient
from support.haproxy import HaproxyFiles
from support.metrics import ANY_PORT, metrics_port
from support.ports import free_ports
from support.procs import DaemonProcess, write_json

from synapse_py.proxy.haproxy_socket import HaproxySocket, HaproxySocketError

HERE = Path(__file__).resolve().parent
DEFAULTS = ["mode http", "timeout connect 2s", "timeout client 10s", "timeout server 10s"]


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (nearest rank) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(ms: list[float]) -> dict:
    """{p50, p99, n} of a list of milliseconds, rounded to 0.1 ms."""
    p50, p99 = percentile(ms, 50), percentile(ms, 99)
    return {
        "p50": None if p50 is None else round(p50, 1),
        "p99": None if p99 is None else round(p99, 1),
        "n": len(ms),
    }


def frontend_ports(count: int) -> list[int]:
    """Ports free now, below the ephemeral range (so no port-0 bind of a backend takes them)."""
    return free_ports(count)


def register(client: KazooClient, path: str, port: int, host: str = "127.0.0.1") -> str:
    """Create a nerve-style ephemeral sequential node for host:port; returns its path."""
    data = json.dumps({"host": host, "port": port, "name": f"bench-{port}"}).encode()
    node = f"{path}/bench-{port}_"
    return client.create(node, data, ephemeral=True, sequence=True, makepath=True)


class BackendPool:
    """A backend_pool.py process: HTTP backends opened and closed on command, by port."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "backend_pool.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, command: str) -> str:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def open(self, keepalive: bool = False) -> int:
        return int(self.ask("open keepalive" if keepalive else "open"))

    def close(self, port: int) -> None:
        self.ask(f"close {port}")

    def stop(self) -> None:
        stop_by_stdin(self.proc)


def stop_by_stdin(proc: subprocess.Popen) -> None:
    """Stop a helper process that runs until its stdin closes; killed (its pid) after 10 s."""
    if proc.poll() is None:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class CpuWindow:
    """CPU time of one process over a wall-clock window, as percent of one core."""

    process: psutil.Process
    cpu0: float = 0.0
    child0: float = 0.0
    wall0: float = 0.0
    rss_peak: int = 0

    def start(self) -> CpuWindow:
        t = self.process.cpu_times()
        self.cpu0, self.wall0 = t.user + t.system, time.monotonic()
        self.child0 = t.children_user + t.children_system
        return self.sample()

    def sample(self) -> CpuWindow:
        self.rss_peak = max(self.rss_peak, self.process.memory_info().rss)
        return self

    def cpu_percent(self) -> float:
        t = self.process.cpu_times()
        return round(100 * (t.user + t.system - self.cpu0) / (time.monotonic() - self.wall0), 1)

    def child_cpu_percent(self) -> float:
        """The same for the process's finished children (synapse-py's `haproxy -c` checks)."""
        t = self.process.cpu_times()
        used = t.children_user + t.children_system - self.child0
        return round(100 * used / (time.monotonic() - self.wall0), 1)

    def rss_mb(self) -> float:
        self.sample()
        return round(self.rss_peak / 2**20, 1)


class Synapse:
    """One synapse-py process driving its own master-worker HAProxy, metrics on a free port."""

    def __init__(self, workdir: Path, zk_hosts: str, services: dict[str, dict], **haproxy):
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.files = HaproxyFiles(workdir)
        self.socket = HaproxySocket(self.files.socket, timeout=5.0)
        self.config = {
            "zk_session_timeout": 10,
            "services": {
                name: {
                    "discovery": {"method": "zookeeper", "hosts": [zk_hosts], "path": s["path"]},
                    "haproxy": {"port": s["port"]} if s.get("port") else {},
                }
                for name, s in services.items()
            },
            "haproxy": {
                "bind_address": "127.0.0.1",
                "config_file_path": self.files.config,
                "socket_file_path": self.files.socket,
                "reload_command": self.files.reload_command,
                "global": ["maxconn 4096", *self._own_socket(haproxy)],
                "defaults": DEFAULTS,
                **haproxy,
            },
            "metrics": {"bind": "127.0.0.1", **ANY_PORT},
        }
        self.daemon: DaemonProcess | None = None
        self._metrics_port: int | None = None

    def _own_socket(self, haproxy: dict) -> list[str]:
        """With do_socket off synapse-py renders no admin socket: add one for the benchmark."""
        if haproxy.get("do_socket", True):
            return []
        return [f"stats socket {self.files.socket} mode 600 level admin expose-fd listeners"]

    def start(self) -> Synapse:
        cfg = write_json(self.workdir / "synapse.json", self.config)
        self.daemon = DaemonProcess("synapse_py", cfg, self.workdir / "synapse.log").start()
        return self

    @property
    def process(self) -> psutil.Process:
        return psutil.Process(self.daemon.pid)

    def ready_servers(self) -> int:
        """Servers in `ready` state across all backends (0 while HAProxy does not answer)."""
        try:
            return sum(r.state == "ready" for r in self.socket.show_servers_state())
        except HaproxySocketError:
            return 0

    def serving(self, backend: str, port: int) -> bool:
        """HAProxy has a ready server at port `port` in `backend`."""
        rows = self.socket.show_servers_state(backend)
        return any(r.port == port and r.state == "ready" for r in rows)

    def wait_ready_servers(self, count: int, timeout: float) -> float:
        """Seconds until `count` servers are ready; raises RuntimeError after `timeout`."""
        start = time.monotonic()
        while self.ready_servers() != count:
            if time.monotonic() - start > timeout:
                raise RuntimeError(
                    f"HAProxy shows {self.ready_servers()} ready servers, not {count}, "
                    f"after {timeout}s; synapse log:\n{self.daemon.output()[-3000:]}"
                )
            time.sleep(0.1)
        return time.monotonic() - start

    @property
    def metrics_port(self) -> int:
        """Where /metrics listens: the kernel's pick, from the log (no port can be lost)."""
        if self._metrics_port is None:
            assert self.daemon is not None, "not started"
            self._metrics_port = metrics_port(self.daemon)
        return self._metrics_port

    def metric(self, name: str) -> float:
        """The sum of a metric over its labels, read from the /metrics endpoint."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith((name + "{", name + " "))
        )

    def stop(self) -> None:
        if self.daemon:
            self.daemon.stop()
        self.files.stop()
