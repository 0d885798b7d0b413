"""Invalid flood: N invalid children land in one service while another service changes.

Measures what a flood of garbage costs synapse-py (issue 11, case 11): its peak RSS while it reads
and skips the flood, how long it takes to skip them all (`synapse_invalid_nodes_skipped`), and
how long a join or leave of an unrelated service takes to reach HAProxy before and during the
flood (the same clock as the convergence benchmark: from just before the ZooKeeper request, sent
on a connection of its own, until `show servers state` shows it). Targets: peak RSS < 100 MB,
other changes delayed < 100 ms.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from common import CpuWindow, Synapse, register, summary
from convergence import poll
from kazoo.client import KazooClient

QUIET_PORTS = (32001, 32002)  # the unrelated service's changing member; never connected to
BATCH = 100  # creates in flight at once (ZooKeeper queues writes: more delays every writer)
CHANGES = 20  # unrelated changes measured before, and at least as many during, the flood


def run(client: KazooClient, hosts: str, workdir: Path, children: int) -> dict:
    flood, quiet = "/bench/flood/garbage", "/bench/flood/quiet"
    client.ensure_path(flood)
    register(client, quiet, 32000)  # keeps the quiet service non-empty
    register(client, flood, 32100)  # one valid member among the garbage
    synapse = Synapse(workdir, hosts, {"garbage": {"path": flood}, "quiet": {"path": quiet}})
    # the unrelated changes go through their own connection, so that they never queue behind
    # the flood's creates in this process
    changer = KazooClient(hosts=hosts, timeout=10)
    changer.start(timeout=10)
    try:
        synapse.start()
        synapse.wait_ready_servers(2, timeout=60)
        window = CpuWindow(synapse.process).start()
        before = _changes(changer, synapse, quiet, CHANGES)
        done = threading.Event()
        sampler = threading.Thread(target=_sample, args=(window, done), daemon=True)
        sampler.start()
        started = time.monotonic()
        filler = threading.Thread(target=_flood, args=(client, flood, children), daemon=True)
        filler.start()
        during: list[float] = []
        while (filler.is_alive() or _skipped(synapse) < children or len(during) < CHANGES) and (
            time.monotonic() - started < 300
        ):
            during += _changes(changer, synapse, quiet, 2)
        skipped_s = time.monotonic() - started
        done.set()
        sampler.join(5)
        return {
            "children": children,
            "skipped": int(_skipped(synapse)),
            "all_skipped_s": round(skipped_s, 1),
            "synapse_peak_rss_mb": window.rss_mb(),
            "other_change_before_p50_ms": summary(before)["p50"],
            "other_change_before_max_ms": round(max(before), 1),
            "other_change_during_p50_ms": summary(during)["p50"],
            "other_change_during_max_ms": round(max(during), 1),
            "other_changes_during": len(during),
        }
    finally:
        synapse.stop()
        changer.stop()
        changer.close()


def _skipped(synapse: Synapse) -> float:
    return synapse.metric("synapse_invalid_nodes_skipped_total")


def _flood(client: KazooClient, path: str, children: int) -> None:
    for start in range(0, children, BATCH):
        pending = [
            client.create_async(f"{path}/junk-", b"not json", sequence=True)
            for _ in range(min(BATCH, children - start))
        ]
        for p in pending:
            p.get(timeout=60)


def _sample(window: CpuWindow, done: threading.Event) -> None:
    while not done.wait(0.05):
        window.sample()


def _changes(client: KazooClient, synapse: Synapse, path: str, count: int) -> list[float]:
    """`count` joins/leaves of the quiet service, one at a time: ms until HAProxy shows each."""
    ms = []
    for i in range(count):
        port = QUIET_PORTS[i % 2]
        t0 = time.monotonic_ns()
        node = register(client, path, port)
        seen = poll(lambda p=port: synapse.serving("quiet", p))
        ms.append(((seen or time.monotonic_ns()) - t0) / 1e6)
        t0 = time.monotonic_ns()
        client.delete(node)
        seen = poll(lambda p=port: not synapse.serving("quiet", p))
        ms.append(((seen or time.monotonic_ns()) - t0) / 1e6)
        time.sleep(0.05)
    return ms
