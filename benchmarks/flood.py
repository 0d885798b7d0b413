"""Flood: N members join one service, then leave; haproxy.cfg server lines and one change's latency.

Issue 11, case 11a: slot tables that only doubled kept a flood's slots (8,192 for 5,000 nodes)
until a restart, and every later change paid for them. Each phase measures single joins and
leaves as the convergence benchmark does (ms from the ZooKeeper write until `show servers state`
shows it) on a service that keeps BASE other members: before the flood, with it, after it left.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from common import Synapse
from convergence import BASE, measure, poll, register_base
from kazoo.client import KazooClient
from support.ports import free_port

from synapse_py.proxy.haproxy_socket import HaproxySocketError

PATH = "/bench/flood"
FIRST_PORT = 40000  # the flood's members: never connected to


def run(client: KazooClient, hosts: str, workdir: Path, nodes: int, changes: int) -> dict:
    register_base(client, PATH)
    synapse = Synapse(workdir, hosts, {"flood": {"path": PATH, "port": free_port()}})
    synapse.config["services"]["flood"]["mass_expiry_grace"] = 0  # the flood's end: no outage
    synapse.start()
    try:
        synapse.wait_ready_servers(BASE, timeout=60)
        result = {"nodes": nodes, **_phase("before", client, synapse, changes)}
        flood = _add(client, nodes)
        synapse.wait_ready_servers(BASE + nodes, timeout=900)
        _settle(synapse)
        result.update(_phase("flooded", client, synapse, changes))
        for pending in [client.delete_async(node) for node in flood]:
            pending.get(timeout=60)
        synapse.wait_ready_servers(BASE, timeout=900)
        _settle(synapse)
        result.update(_phase("after", client, synapse, changes))
        return result
    finally:
        synapse.stop()


def _phase(name: str, client: KazooClient, synapse: Synapse, changes: int) -> dict:
    latency = measure(
        client,
        PATH,
        changes,
        lambda port, present, t0: poll(lambda: synapse.serving("flood", port) == present),
    )
    return {
        f"{name}_server_lines": _server_lines(synapse),
        f"{name}_change_p50_ms": latency["p50"],
        f"{name}_change_p99_ms": latency["p99"],
    }


def _add(client: KazooClient, nodes: int) -> list[str]:
    pending = [
        client.create_async(
            f"{PATH}/flood-{FIRST_PORT + i}_",
            json.dumps({"host": "127.0.0.1", "port": FIRST_PORT + i, "name": f"f{i}"}).encode(),
            ephemeral=True,
            sequence=True,
        )
        for i in range(nodes)
    ]
    return [p.get(timeout=60) for p in pending]


def _server_lines(synapse: Synapse) -> int:
    text = Path(synapse.files.config).read_text()
    return sum(line.lstrip().startswith("server ") for line in text.splitlines())


def _settle(synapse: Synapse, timeout: float = 120.0) -> None:
    """Wait until the running HAProxy has as many servers as haproxy.cfg (a reload is done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _agree(synapse):
            time.sleep(1)  # and the file's background install has caught up
            if _agree(synapse):
                return
        time.sleep(0.2)
    raise RuntimeError(f"HAProxy and haproxy.cfg disagree after {timeout}s")


def _agree(synapse: Synapse) -> bool:
    try:
        return len(synapse.socket.show_servers_state("flood")) == _server_lines(synapse)
    except HaproxySocketError:  # between two workers
        return False
