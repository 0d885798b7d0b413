"""Convergence: milliseconds from a ZooKeeper create/delete until an observer shows the change.

Every observer sees the same kind of change on its own path: one member joins or leaves a service
that keeps BASE other members (so it is never empty). The clock starts just before the ZooKeeper
request is sent. An observation that times out counts as the full timeout.
"""

from __future__ import annotations

import queue
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from common import HERE, Synapse, register, summary
from kazoo.client import KazooClient
from support.ports import free_port

BASE = 2
TIMEOUT = 5.0
# Between changes, plus up to half as much again at random: long enough that synapse-py has
# finished the previous change (its config validation takes ~100 ms), so each change stands alone.
GAP = 0.2
PORTS = range(31001, 31011)  # never connected to: convergence needs no traffic

# (port, present, t0_ns) -> monotonic ns when the observer showed it, None on timeout
Observer = Callable[[int, bool, int], int | None]


def measure(client: KazooClient, path: str, changes: int, observed: Observer) -> dict:
    """Alternately register and deregister members of `path`; p50/p99/n of the delays in ms."""
    nodes: dict[int, str] = {}
    ms = []
    for i in range(changes):
        port, present = PORTS[(i // 2) % len(PORTS)], i % 2 == 0
        t0 = time.monotonic_ns()
        if present:
            nodes[port] = register(client, path, port)
        else:
            client.delete(nodes.pop(port))
        seen = observed(port, present, t0)
        ms.append(((seen or time.monotonic_ns()) - t0) / 1e6)
        time.sleep(GAP + random.uniform(0, GAP / 2))
    return summary(ms)


def register_base(client: KazooClient, path: str) -> None:
    for port in range(31000 - BASE, 31000):
        register(client, path, port)


def floor(client: KazooClient, hosts: str, changes: int) -> dict:
    """A bare kazoo ChildrenWatch in another process (floor_watch.py)."""
    path = "/bench/floor"
    register_base(client, path)
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "floor_watch.py"), hosts, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()

    def observed(port: int, present: bool, t0: int) -> int | None:
        return _floor_line(lines, BASE + present)

    try:
        if _floor_line(lines, BASE, timeout=20) is None:
            raise RuntimeError("the floor watcher never reported the path")
        return measure(client, path, changes, observed)
    finally:
        proc.stdin.close()
        proc.wait(10)


def _floor_line(lines: queue.Queue, count: int, timeout: float = TIMEOUT) -> int | None:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            stamp, children = lines.get(timeout=left).split()[:2]
        except queue.Empty:
            return None
        if int(children) == count:
            return int(stamp)
    return None


def haproxy(client: KazooClient, hosts: str, workdir: Path, changes: int) -> dict:
    """synapse-py + HAProxy: until `show servers state` on the admin socket shows the change."""
    path = "/bench/conv-haproxy"
    register_base(client, path)
    synapse = Synapse(workdir, hosts, {"conv": {"path": path, "port": free_port()}}).start()
    try:
        synapse.wait_ready_servers(BASE, timeout=60)

        def observed(port: int, present: bool, t0: int) -> int | None:
            return poll(lambda: synapse.serving("conv", port) == present)

        return measure(client, path, changes, observed)
    finally:
        synapse.stop()


def poll(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> int | None:
    """Poll tightly (1 ms apart) until `predicate` holds: the monotonic ns it did, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic_ns()
        time.sleep(0.001)
    return None
