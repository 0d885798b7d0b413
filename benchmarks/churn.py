"""Churn: members registered and deregistered at random while traffic goes through HAProxy.

Each member is its own backend (a port of backend_pool.py). A new member listens before it is
registered; a leaving member is deregistered first and stops listening GRACE seconds later, as a
service stopped by nerve's shutdown would. So every failed request is the proxy's fault.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from common import BackendPool, CpuWindow, Synapse, frontend_ports, register
from kazoo.client import KazooClient

MIN_MEMBERS = 2  # a service never drops below this: an empty backend fails by design
GRACE = 1.0  # seconds between deregistering a member and stopping it
LOAD_THREADS = 4
LOAD_RATE = 100  # requests a second in all


@dataclass
class Member:
    port: int
    node: str


@dataclass
class Load:
    """A bounded load generator: LOAD_THREADS threads, LOAD_RATE req/s in all, until `deadline`."""

    ports: list[int]
    deadline: float
    ok: int = 0
    failed: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> list[threading.Thread]:
        cap = int(LOAD_RATE * (self.deadline - time.monotonic()) / LOAD_THREADS) + 1
        threads = [threading.Thread(target=self._worker, args=(cap,)) for _ in range(LOAD_THREADS)]
        for t in threads:
            t.start()
        return threads

    def _worker(self, cap: int) -> None:
        rnd = random.Random()
        period = LOAD_THREADS / LOAD_RATE
        for _ in range(cap):
            if time.monotonic() >= self.deadline:
                return
            started = time.monotonic()
            outcome = _request(rnd.choice(self.ports))
            with self._lock:
                if outcome == "200":
                    self.ok += 1
                else:
                    self.failed[outcome] += 1
            time.sleep(max(0.0, period - (time.monotonic() - started)))


def _request(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        resp = conn.getresponse()
        resp.read()
        return str(resp.status)
    except OSError as e:
        return type(e).__name__
    finally:
        conn.close()


class Churn:
    """The workload: `services` services of up to `backends` members each, `rate` changes/s."""

    def __init__(self, client: KazooClient, pool: BackendPool, services: int, backends: int):
        self.client, self.pool, self.backends = client, pool, backends
        self.members: dict[str, list[Member]] = {f"churn{i}": [] for i in range(services)}
        self.closing: list[tuple[float, int]] = []
        self.changes = 0
        self.rnd = random.Random(6)

    def path(self, service: str) -> str:
        return f"/bench/churn/{service}"

    def fill(self) -> None:
        for service in self.members:
            while len(self.members[service]) < self.backends:
                self.join(service)

    def join(self, service: str) -> None:
        port = self.pool.open()
        self.members[service].append(Member(port, register(self.client, self.path(service), port)))

    def leave(self, service: str) -> None:
        member = self.members[service].pop(self.rnd.randrange(len(self.members[service])))
        self.client.delete(member.node)
        self.closing.append((time.monotonic() + GRACE, member.port))

    def change(self) -> None:
        service = self.rnd.choice(sorted(self.members))
        count = len(self.members[service])
        grow = count <= MIN_MEMBERS or (count < self.backends and self.rnd.random() < 0.5)
        (self.join if grow else self.leave)(service)
        self.changes += 1

    def close_due(self, everything: bool = False) -> None:
        now = time.monotonic()
        due = [c for c in self.closing if everything or c[0] <= now]
        self.closing = [c for c in self.closing if c not in due]
        for when, port in due:
            time.sleep(max(0.0, when - time.monotonic()))
            self.pool.close(port)

    def drive(self, seconds: float, rate: float, window: CpuWindow) -> None:
        start = time.monotonic()
        for i in range(int(seconds * rate)):
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
            self.change()
            self.close_due()
            if i % int(rate) == 0:
                window.sample()

    def clear(self) -> None:
        """Deregister every member (then stop them): the next run starts from nothing."""
        for service, members in self.members.items():
            while members:
                self.leave(service)
        self.close_due(everything=True)


def run(client: KazooClient, hosts: str, workdir: Path, sizes, do_socket: bool) -> dict:
    """One churn run; `do_socket: false` makes synapse-py apply every change by a reload."""
    pool = BackendPool()
    churn = Churn(client, pool, sizes.churn_services, sizes.churn_backends)
    ports = dict(zip(churn.members, frontend_ports(len(churn.members)), strict=True))
    services = {s: {"path": churn.path(s), "port": ports[s]} for s in churn.members}
    synapse = Synapse(workdir, hosts, services, do_socket=do_socket)
    try:
        churn.fill()
        synapse.start().wait_ready_servers(sizes.churn_services * sizes.churn_backends, 120)
        return _measure(churn, synapse, list(ports.values()), sizes)
    finally:
        churn.clear()
        synapse.stop()
        pool.stop()


def _measure(churn: Churn, synapse: Synapse, ports: list[int], sizes) -> dict:
    reloads = synapse.metric("synapse_reloads_total")
    window = CpuWindow(synapse.process).start()
    load = Load(ports, time.monotonic() + sizes.churn_seconds)
    threads = load.run()
    churn.drive(sizes.churn_seconds, sizes.churn_rate, window)
    for t in threads:
        t.join(10)
    cpu = window.cpu_percent()
    return {
        "requests_ok": load.ok,
        "requests_failed": sum(load.failed.values()),
        "reloads": int(synapse.metric("synapse_reloads_total") - reloads),
        "changes": churn.changes,
        "synapse_cpu_percent": cpu,
        "synapse_rss_mb": window.rss_mb(),
        "failures": dict(load.failed),
    }
