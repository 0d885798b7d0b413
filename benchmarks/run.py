"""Benchmarks of smartstack-py against the ZooKeeper floor: convergence, churn, scale, floods.

    python benchmarks/run.py [--quick | --smoke] [--only SECTION ...]

Prints a table, then the JSON summary as the last line of stdout. Everything runs on loopback:
its own ZooKeeper, HAProxy, synapse-py and nerve-py processes, stopped by pid at the end.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

import churn  # noqa: E402
import convergence  # noqa: E402
import envoy_bench  # noqa: E402
import flood  # noqa: E402
import invalid_flood  # noqa: E402
import nerve_load  # noqa: E402
import nerve_siblings  # noqa: E402
import ramp  # noqa: E402
import scale  # noqa: E402
import scale_convergence  # noqa: E402
import zk_fleet  # noqa: E402
from report import SECTIONS, json_line, table  # noqa: E402
from support.zk import ZooKeeperEnsemble  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    changes: int  # convergence changes per observer
    churn_services: int
    churn_backends: int
    churn_seconds: float
    churn_rate: float  # changes a second
    scale_services: int
    nerve_services: int
    nerve_seconds: float
    flood_nodes: int  # members that join one service, then leave
    flood_changes: int  # single joins/leaves timed before, during and after the flood
    flood_children: int  # invalid children in one service
    nerve_siblings: int  # other instances' nodes beside the one nerve-py registers
    nerve_registrations: int
    ramp_members: int  # members that join one service one by one, then leave one by one
    scale_conv_services: tuple[int, int]  # scale_convergence: the small N and the large N
    scale_conv_singles: int  # single changes timed at each N
    scale_conv_burst_s: float  # seconds of 50 changes a second at each N
    fleet: zk_fleet.FleetSizes  # zk_fleet: its own 3-node ensemble and simulated hosts


# fmt: off
SIZES = {
    "full": Sizes(
        200, 50, 20, 60, 50, 1000, 1000, 30, 5000, 20, 20000, 10_000, 20, 200, (20, 1000), 40, 5,
        zk_fleet.FleetSizes(100, 200, 4, 30, 5, 60),
    ),
    "quick": Sizes(
        100, 50, 20, 20, 50, 200, 200, 15, 1000, 10, 20000, 2_000, 10, 100, (20, 200), 40, 5,
        zk_fleet.FleetSizes(50, 100, 4, 15, 5, 20),
    ),
    "smoke": Sizes(
        10, 2, 4, 3, 10, 2, 5, 3, 20, 2, 200, 50, 2, 5, (2, 4), 4, 1,
        zk_fleet.FleetSizes(3, 4, 2, 2, 5, 1),
    ),
}
# fmt: on


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_const", dest="mode", const="quick")
    mode.add_argument("--smoke", action="store_const", dest="mode", const="smoke")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=SECTIONS)
    args = parser.parse_args()
    mode_name = args.mode or "full"
    workdir = Path(tempfile.mkdtemp(prefix="smartstack-bench-"))
    try:
        results = run_all(SIZES[mode_name], workdir, args.only)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(table(mode_name, results))
    print(json_line(results))


def run_all(sizes: Sizes, workdir: Path, sections) -> dict:
    zk = ZooKeeperEnsemble(workdir / "zk")
    zk.start()
    client = zk.client(timeout=10)
    results: dict = dict.fromkeys(SECTIONS)
    try:
        for name in sections:
            started = time.monotonic()
            results[name] = SECTION_RUNNERS[name](client, zk.hosts, workdir / name, sizes)
            print(f"# {name}: {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    finally:
        client.stop()
        client.close()
        zk.stop()
    return results


def _convergence(client, hosts: str, workdir: Path, sizes: Sizes) -> dict:
    return {
        "floor": convergence.floor(client, hosts, sizes.changes),
        "haproxy": convergence.haproxy(client, hosts, workdir / "haproxy", sizes.changes),
        "envoy": envoy_bench.run(client, hosts, workdir / "envoy", sizes.changes),
    }


SECTION_RUNNERS = {
    "convergence_ms": _convergence,
    "churn": lambda c, h, w, s: churn.run(c, h, w, s, do_socket=True),
    "churn_reload_mode": lambda c, h, w, s: churn.run(c, h, w, s, do_socket=False),
    "scale": lambda c, h, w, s: scale.run(c, h, w, s.scale_services),
    "scale_convergence": lambda c, h, w, s: scale_convergence.run(
        c, h, w, s.scale_conv_services, s.scale_conv_singles, s.scale_conv_burst_s
    ),
    "nerve": lambda c, h, w, s: nerve_load.run(h, w, s.nerve_services, s.nerve_seconds),
    "flood": lambda c, h, w, s: flood.run(c, h, w, s.flood_nodes, s.flood_changes),
    "invalid_flood": lambda c, h, w, s: invalid_flood.run(c, h, w, s.flood_children),
    "nerve_siblings": lambda c, h, w, s: nerve_siblings.run(
        h, s.nerve_siblings, s.nerve_registrations
    ),
    "ramp": lambda c, h, w, s: ramp.run(c, h, w, s.ramp_members),
    "zk_fleet": lambda c, h, w, s: zk_fleet.run(w, s.fleet),
}

if __name__ == "__main__":
    main()
