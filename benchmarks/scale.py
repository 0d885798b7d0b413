"""Scale: N services x 20 members: initial sync, render time, memory, ZooKeeper reads per change."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from common import Synapse, register
from convergence import poll
from kazoo.client import KazooClient

from synapse_py.backend import Backend
from synapse_py.config import load_config
from synapse_py.generators.haproxy.generator import HaproxyGenerator

MEMBERS = 20
CHANGES = 20  # joins and leaves after the sync, for zk_reads_per_change


def run(client: KazooClient, hosts: str, workdir: Path, services: int) -> dict:
    names = [f"scale{i}" for i in range(services)]
    populate(client, [_path(n) for n in names])
    # backends only (no frontends): a thousand listening ports would measure the port allocator
    synapse = Synapse(workdir, hosts, {n: {"path": _path(n)} for n in names})
    try:
        started = time.monotonic()
        synapse.start()
        synapse.wait_ready_servers(services * MEMBERS, timeout=900)
        sync_s = time.monotonic() - started
        time.sleep(1)
        rss_mb = round(synapse.process.memory_info().rss / 2**20, 1)
        return {
            "services": services,
            "backends": services * MEMBERS,
            "initial_sync_s": round(sync_s, 2),
            "render_ms": _render_ms(synapse, names),
            "synapse_rss_mb": rss_mb,
            "zk_reads_per_change": _reads_per_change(client, synapse, names),
        }
    finally:
        synapse.stop()


def _path(name: str) -> str:
    return f"/bench/scale/{name}"


def populate(client: KazooClient, paths: list[str]) -> dict[str, dict[int, str]]:
    """MEMBERS members under each path (ports 20000..) created in parallel: {path: {port: node}}."""
    for path in paths:
        client.ensure_path(path)
    pending = [
        (
            path,
            20000 + j,
            client.create_async(
                f"{path}/bench-{20000 + j}_",
                json.dumps({"host": "127.0.0.1", "port": 20000 + j, "name": f"m{j}"}).encode(),
                ephemeral=True,
                sequence=True,
            ),
        )
        for path in paths
        for j in range(MEMBERS)
    ]
    nodes: dict[str, dict[int, str]] = {path: {} for path in paths}
    for path, port, result in pending:
        nodes[path][port] = result.get(timeout=60)
    return nodes


def _render_ms(synapse: Synapse, names: list[str]) -> float:
    """HaproxyGenerator.render for the whole membership, in this process: median of 3, in ms."""
    config = load_config(synapse.workdir / "synapse.json")
    members = tuple(Backend("127.0.0.1", 20000 + j, f"m{j}") for j in range(MEMBERS))
    membership = dict.fromkeys(names, members)
    gen = HaproxyGenerator(config.haproxy)
    try:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            gen.render(config.services, membership)
            times.append((time.perf_counter() - started) * 1000)
        return round(statistics.median(times), 1)
    finally:
        gen.stop()


def _reads_per_change(client: KazooClient, synapse: Synapse, names: list[str]) -> float:
    """synapse_zookeeper_reads (node reads by the reconciler) per join or leave."""
    before = synapse.metric("synapse_zookeeper_reads_total")
    for i in range(CHANGES // 2):
        name = names[i % len(names)]
        node = register(client, _path(name), 29000 + i)
        poll(lambda n=name, p=29000 + i: synapse.serving(n, p))
        client.delete(node)
        poll(lambda n=name, p=29000 + i: not synapse.serving(n, p))
    return round((synapse.metric("synapse_zookeeper_reads_total") - before) / CHANGES, 2)
