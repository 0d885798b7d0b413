"""nerve-py registering among many siblings: what finding its own leftover node costs.

Before each registration nerve-py looks for a node of its own left by an earlier process (kill -9)
among the children of zk_path. This creates `siblings` nodes of other instances there (one
session, batched transactions; closing it removes them), then times a real Reporter: from
`sync(True)` to the node existing, deregistering in between. Once among plain siblings, once among
path-encoded ones, and once replacing a leftover of our own held by another live session, after
which exactly one node of ours must exist.

    python benchmarks/nerve_siblings.py [--siblings N] [--registrations N]   (own ZooKeeper)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from kazoo.client import KazooClient

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from common import percentile  # noqa: E402

from nerve_py.config import ServiceConfig  # noqa: E402
from nerve_py.registration import encode_child_name  # noqa: E402
from nerve_py.reporter import Reporter  # noqa: E402
from nerve_py.zk import ZkConnection  # noqa: E402

INSTANCE = "bench-host"
BATCH = 1000  # creates per transaction (well inside ZooKeeper's 1 MB request limit)


def run(hosts: str, siblings: int, registrations: int = 20) -> dict:
    """The summary: registration p50/p99 (ms) per sibling form, and the leftover case."""
    fleet = KazooClient(hosts=hosts, timeout=30)
    fleet.start(timeout=15)
    conn = ZkConnection(hosts, 10)
    conn.start()
    try:
        _wait(lambda: conn.connected, "nerve-py's ZooKeeper session")
        plain = _timed(conn, fleet, "/bench/siblings/plain", siblings, False, registrations)
        encoded = _timed(conn, fleet, "/bench/siblings/encoded", siblings, True, registrations)
        leftover_ms, own = _leftover(conn, hosts, fleet, "/bench/siblings/plain")
    finally:
        conn.stop()
        fleet.stop()
        fleet.close()
    return {
        "siblings": siblings,
        "plain_register_p50_ms": plain[0],
        "plain_register_p99_ms": plain[1],
        "encoded_register_p50_ms": encoded[0],
        "encoded_register_p99_ms": encoded[1],
        "replace_leftover_ms": leftover_ms,
        "own_nodes_after_leftover": own,
    }


def _timed(conn, fleet, zk_path, siblings, encoded, registrations) -> tuple[float, float]:
    _create_siblings(fleet, zk_path, siblings, encoded)
    reporter = Reporter(_service(zk_path, encoded), conn)
    times = []
    for _ in range(registrations):
        started = time.perf_counter()
        reporter.sync(True)
        times.append((time.perf_counter() - started) * 1000)
        assert reporter.node is not None and conn.client.exists(reporter.node)
        reporter.sync(False)
    return round(percentile(times, 50), 1), round(percentile(times, 99), 1)


def _leftover(conn, hosts, fleet, zk_path) -> tuple[float, int]:
    """A predecessor killed with -9: its node lives on in its session until that expires."""
    service = _service(zk_path, False)
    dead = KazooClient(hosts=hosts, timeout=30)
    dead.start(timeout=15)
    try:
        data = json.dumps({"host": service.host, "port": service.port, "name": INSTANCE})
        dead.create(f"{zk_path}/{INSTANCE}_", data.encode(), ephemeral=True, sequence=True)
        reporter = Reporter(service, conn)
        started = time.perf_counter()
        reporter.sync(True)
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        own = [c for c in fleet.get_children(zk_path) if c.startswith(f"{INSTANCE}_")]
        reporter.sync(False)
    finally:
        dead.stop()
        dead.close()
    return elapsed, len(own)


def _create_siblings(fleet: KazooClient, zk_path: str, count: int, encoded: bool) -> None:
    fleet.ensure_path(zk_path)
    for start in range(0, count, BATCH):
        tx = fleet.transaction()
        for i in range(start, min(count, start + BATCH)):
            data = {"host": f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", "port": 8080,
                    "name": f"i-{i:05d}"}  # fmt: skip
            name = encode_child_name(data) if encoded else f"i-{i:05d}_"
            tx.create(f"{zk_path}/{name}", json.dumps(data).encode(), ephemeral=True, sequence=True)
        failed = [r for r in tx.commit() if isinstance(r, Exception)]
        if failed:
            raise RuntimeError(f"creating siblings under {zk_path}: {failed[0]!r}")


def _service(zk_path: str, encoded: bool) -> ServiceConfig:
    return ServiceConfig(
        name="web",
        instance_id=INSTANCE,
        host="127.0.0.1",
        port=8080,
        zk_hosts=("unused",),  # the Reporter is handed its connection
        zk_path=zk_path,
        checks=(),
        use_path_encoding=encoded,
    )


def _wait(condition, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not ready after {timeout}s")
        time.sleep(0.05)


def main() -> None:
    from support.zk import ZooKeeperEnsemble

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--siblings", type=int, default=10_000)
    parser.add_argument("--registrations", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nerve-siblings-") as workdir:
        zk = ZooKeeperEnsemble(Path(workdir) / "zk")
        zk.start()
        try:
            print(json.dumps(run(zk.hosts, args.siblings, args.registrations), sort_keys=True))
        finally:
            zk.stop()


if __name__ == "__main__":
    main()
