"""Ramp: members of one service join one by one, GAP apart, up to N, then leave one by one to 0.

Issue 13: a ramp must cost no reload and each member must be live (or gone) in HAProxy soon after
its znode is written, however many the backend already has. Each member's convergence is the time
from just before its ZooKeeper create (delete) until the admin socket's `show servers state` shows
it ready (no longer ready), watched by one poller for all members at once, so a slow change does
not hold back the next write. A member never seen within TIMEOUT counts as TIMEOUT.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from common import Synapse, register, summary
from flood import _server_lines
from kazoo.client import KazooClient
from support.ports import free_port

from synapse_py.proxy.haproxy_socket import HaproxySocketError

PATH = "/bench/ramp"
SERVICE = "ramp"
FIRST_PORT = 41000  # the ramp's members: never connected to
GAP = 0.05  # seconds between two writes
TIMEOUT = 30.0
POLL = 0.002


class Watch:
    """One thread polling HAProxy: how long each awaited port took to show the wanted state."""

    def __init__(self, synapse: Synapse):
        self.synapse = synapse
        self.awaited: dict[int, tuple[bool, int]] = {}  # port -> (want ready, t0 ns)
        self.seen: dict[int, int] = {}  # port -> ns from t0 to the state
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def begin(self) -> None:
        """A new phase: forget what the last one saw."""
        with self._lock:
            self.seen.clear()

    def expect(self, port: int, ready: bool, t0: int) -> None:
        with self._lock:
            self.seen.pop(port, None)
            self.awaited[port] = (ready, t0)

    def start(self) -> Watch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(POLL):
            try:
                rows = self.synapse.socket.show_servers_state(SERVICE)
            except HaproxySocketError:  # between two workers during a reload
                continue
            now = time.monotonic_ns()
            ready = {r.port for r in rows if r.state == "ready"}
            with self._lock:
                for port, (want, t0) in list(self.awaited.items()):
                    if (port in ready) == want:
                        self.seen[port] = now - t0
                        del self.awaited[port]

    def wait(self, timeout: float = TIMEOUT) -> None:
        """Until nothing is awaited, or `timeout`: what is left counts as TIMEOUT."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self.awaited:
                    return
            time.sleep(0.05)
        with self._lock:
            for port in self.awaited:
                self.seen[port] = int(TIMEOUT * 1e9)
            self.awaited.clear()

    def milliseconds(self) -> list[float]:
        with self._lock:
            return [ns / 1e6 for ns in self.seen.values()]


def run(client: KazooClient, hosts: str, workdir: Path, members: int) -> dict:
    synapse = Synapse(workdir, hosts, {SERVICE: {"path": PATH, "port": free_port()}})
    # the ramp's end empties the service on purpose: no outage hold, no kept backends
    synapse.config["services"][SERVICE].update(mass_expiry_grace=0, use_previous_backends=False)
    client.ensure_path(PATH)
    synapse.start()
    watch = Watch(synapse)
    try:
        _wait_answering(synapse)
        watch.start()
        ports = [FIRST_PORT + i for i in range(members)]
        result = {"members": members}
        nodes: dict[int, str] = {}
        result.update(_phase("up", synapse, watch, ports, lambda p: _join(client, nodes, p)))
        result.update(_phase("down", synapse, watch, ports, lambda p: client.delete(nodes[p])))
        result["after_server_lines"] = _server_lines(synapse)
        return result
    finally:
        watch.stop()
        synapse.stop()


def _join(client: KazooClient, nodes: dict[int, str], port: int) -> None:
    nodes[port] = register(client, PATH, port)


def _phase(name: str, synapse: Synapse, watch: Watch, ports: list[int], write) -> dict:
    reloads = synapse.metric("synapse_reloads_total")
    watch.begin()
    start = time.monotonic()
    for i, port in enumerate(ports):
        time.sleep(max(0.0, start + i * GAP - time.monotonic()))
        watch.expect(port, name == "up", time.monotonic_ns())
        write(port)
    watch.wait()
    ms = watch.milliseconds()
    time.sleep(3)  # a reload rate-limited to after the last change has run by now
    latency = summary(ms)
    return {
        f"{name}_reloads": int(synapse.metric("synapse_reloads_total") - reloads),
        f"{name}_p50_ms": latency["p50"],
        f"{name}_p99_ms": latency["p99"],
        f"{name}_max_ms": round(max(ms), 1) if ms else None,
    }


def _wait_answering(synapse: Synapse, timeout: float = 60.0) -> None:
    """Until HAProxy knows the (empty) backend and synapse-py serves its metrics."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            synapse.socket.show_servers_state(SERVICE)
            synapse.metric("synapse_reloads_total")
            return
        except (HaproxySocketError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
