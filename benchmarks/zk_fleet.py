"""ZooKeeper at fleet scale (issue 15): HOSTS simulated consumer hosts against a 3-node ensemble.

Each simulated host is one kazoo session in this process watching SERVICES service paths the way
synapse_py's zookeeper method does (discovery/zookeeper_watch.py): a data watch on the service
path, its children listed asynchronously with a children watch, and every new child read once with
a data watch of its own. In `poll` mode (zookeeper_poll) no watch is set: every POLL_S seconds a
host lists each service and reads every child again, its first poll at a random point of the
first interval, as synapse_py does.

Nerve-style churn (fleet_churn.py: ephemeral sequential members created and deleted by a few
"nerve" sessions) runs at a bounded rate, one change in flight per service. Reported per mode:
- ZooKeeper's own counts over the 3 servers: watches (`wchs`), packets in and out a second
  (`mntr`, idle and under churn), its CPU (psutil on the server pids, percent of one core, summed);
- notifications per change: watch events delivered to all hosts during churn / changes made;
- requests per change: lists and reads the hosts sent during churn / changes;
- notification latency: ms from just before the ZooKeeper write to the host's listing that shows
  the change (what synapse_py acts on), per (change, host), p50/p99; a host that did not see a
  change within TIMEOUT counts as TIMEOUT;
- this process's CPU: the simulator's own limit (one Python process, one GIL, for every host).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from common import CpuWindow, summary
from fleet_churn import Change, Churn
from fleet_host import Host, Tally, stop_all
from kazoo.client import KazooClient
from support.zk import ZooKeeperEnsemble, four_letter

ROOT = "/bench/zk-fleet"
IDLE_S = 5.0  # seconds of no churn after the sync (at most the churn's): heartbeats, polls


@dataclass(frozen=True)
class FleetSizes:
    hosts: int
    services: int
    members: int  # per service at the start
    churn_seconds: float
    churn_rate: float  # changes a second (fewer when every service has a change in flight)
    poll_s: float  # zookeeper_poll's polling_interval_sec


def run(workdir: Path, sizes: FleetSizes) -> dict:
    """Both modes against one fresh 3-node ensemble; the figures flat, prefixed by mode."""
    ensemble = ZooKeeperEnsemble(workdir / "ensemble", size=3)
    ensemble.start()
    try:
        results: dict = {"hosts": sizes.hosts, "services": sizes.services}
        results["members"] = sizes.members
        for mode in ("watch", "poll"):
            figures = run_mode(ensemble, sizes, mode)
            results.update({f"{mode}_{k}": v for k, v in figures.items()})
        results["poll_interval_s"] = sizes.poll_s
        scheduled = sizes.hosts * sizes.services / sizes.poll_s
        results["poll_polls_per_s_scheduled"] = round(scheduled, 1)
        return results
    finally:
        ensemble.stop()


def run_mode(ensemble: ZooKeeperEnsemble, sizes: FleetSizes, mode: str) -> dict:
    paths = [f"{ROOT}/{mode}/s{i}" for i in range(sizes.services)]
    churn = Churn(ensemble, paths, sizes.members)
    tally = Tally(sizes.hosts)
    hosts: list[Host] = []
    try:
        churn.populate()
        started = time.monotonic()
        hosts = _connect(ensemble, paths, tally, mode, sizes.poll_s, sizes.hosts)
        tally.wait_synced(len(paths) * sizes.hosts, timeout=300)
        sync_s = time.monotonic() - started
        idle = _Window(ensemble).measure(min(IDLE_S, sizes.churn_seconds))
        watches = _watches(ensemble)
        churn_window = _Window(ensemble).begin()
        before = tally.counts()
        changes = churn.run(tally, sizes.churn_seconds, sizes.churn_rate, _timeout(mode, sizes))
        after = tally.counts()
        busy = churn_window.end()
        return _figures(sizes, sync_s, idle, watches, busy, changes, before, after)
    finally:
        stop_all(hosts)
        churn.stop()


def _timeout(mode: str, sizes: FleetSizes) -> float:
    """Seconds a change may take to reach every host: a poll interval and then some."""
    return 10.0 if mode == "watch" else 2 * sizes.poll_s + 5.0


def _connect(ensemble, paths, tally: Tally, mode: str, poll_s: float, count: int) -> list[Host]:
    """`count` sessions, started in parallel (kazoo spreads them over the 3 servers)."""
    clients = [KazooClient(hosts=ensemble.hosts, timeout=10) for _ in range(count)]
    events = [c.start_async() for c in clients]
    for event in events:
        event.wait(30)
    rnd = random.Random(15)
    return [Host(i, c, paths, tally, mode, poll_s, rnd).start() for i, c in enumerate(clients)]


def _figures(sizes, sync_s, idle: dict, watches: dict, busy: dict, changes: list[Change], a, b):
    made = len(changes) or 1
    ms = [m for c in changes for m in c.latencies(sizes.hosts)]
    lat = summary(ms)
    return {
        "initial_sync_s": round(sync_s, 2),
        "zk_watches": watches["watches"],
        "zk_watched_paths": watches["paths"],
        "zk_idle_cpu_percent": idle["cpu_percent"],
        "zk_idle_packets_in_per_s": idle["packets_in_per_s"],
        "changes": len(changes),
        "changes_per_s": round(len(changes) / sizes.churn_seconds, 1),
        "notifications_per_change": round((b.notifications - a.notifications) / made, 1),
        "requests_per_change": round((b.requests - a.requests) / made, 1),
        "requests_per_s": round((b.requests - a.requests) / busy["seconds"], 1),
        "listings_per_s": round((b.listings - a.listings) / busy["seconds"], 1),
        "zk_cpu_percent": busy["cpu_percent"],
        "zk_packets_in_per_s": busy["packets_in_per_s"],
        "zk_packets_out_per_s": busy["packets_out_per_s"],
        "latency_p50_ms": lat["p50"],
        "latency_p99_ms": lat["p99"],
        "latency_n": lat["n"],
        "latency_timeouts": sum(c.missed(sizes.hosts) for c in changes),
        "simulator_cpu_percent": busy["simulator_cpu_percent"],
    }


def _mntr(ensemble: ZooKeeperEnsemble) -> dict[str, float]:
    """`mntr`'s numeric counters summed over the servers."""
    total: dict[str, float] = {}
    for node in ensemble.nodes:
        for line in four_letter(node.client_port, "mntr").splitlines():
            key, _, value = line.partition("\t")
            try:
                total[key] = total.get(key, 0.0) + float(value)
            except ValueError:
                continue
    return total


def _watches(ensemble: ZooKeeperEnsemble) -> dict[str, int]:
    """`wchs` over the servers: 'N connections watching P paths / Total watches:W'."""
    paths = watches = 0
    for node in ensemble.nodes:
        text = four_letter(node.client_port, "wchs")
        words = text.split()
        if "watching" in words:
            paths += int(words[words.index("watching") + 1])
        for line in text.splitlines():
            if line.startswith("Total watches:"):
                watches += int(line.split(":", 1)[1])
    return {"paths": paths, "watches": watches}


class _Window:
    """The servers' CPU and packet counters, and this process's CPU, over a wall-clock window."""

    def __init__(self, ensemble: ZooKeeperEnsemble):
        self.ensemble = ensemble
        self.cpus = [CpuWindow(psutil.Process(n.proc.pid)) for n in ensemble.nodes if n.proc]
        self.me = CpuWindow(psutil.Process())

    def begin(self) -> _Window:
        for w in (*self.cpus, self.me):
            w.start()
        self.mntr0, self.t0 = _mntr(self.ensemble), time.monotonic()
        return self

    def end(self) -> dict:
        mntr, wall = _mntr(self.ensemble), time.monotonic() - self.t0

        def rate(key: str) -> float:
            return round((mntr.get(key, 0) - self.mntr0.get(key, 0)) / wall, 1)

        return {
            "cpu_percent": round(sum(w.cpu_percent() for w in self.cpus), 1),
            "packets_in_per_s": rate("zk_packets_received"),
            "packets_out_per_s": rate("zk_packets_sent"),
            "simulator_cpu_percent": self.me.cpu_percent(),
            "seconds": wall,
        }

    def measure(self, seconds: float) -> dict:
        self.begin()
        threading.Event().wait(seconds)
        return self.end()
