"""nerve-py at scale: one process checking N services over http every second.

The services share a few keep-alive backends (backend_pool.py); each has its own check path, so the
backend sees when each service's check ran. Check lag is measured there, from outside nerve-py: the
gap between two consecutive checks of one service minus check_interval (nerve-py schedules each
check check_interval after the previous one started, so the excess is how late it started).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import psutil
from common import BackendPool, CpuWindow, percentile
from support.procs import DaemonProcess, wait_for, write_json

BACKENDS = 4
INTERVAL = 1.0


def config(hosts: str, workdir: Path, ports: list[int], services: int) -> dict:
    return {
        "instance_id": "bench-host",
        "state_dir": str(workdir / "state"),
        "zk_session_timeout": 10,
        "services": {
            f"svc{i}": {
                "host": "127.0.0.1",
                "port": ports[i % len(ports)],
                "reporter_type": "zookeeper",
                "zk_hosts": [hosts],
                "zk_path": f"/bench/nerve/svc{i}",
                "check_interval": INTERVAL,
                "checks": [{"type": "http", "uri": f"/health/svc{i}", "timeout": 1, "rise": 1}],
            }
            for i in range(services)
        },
    }


def registered(workdir: Path) -> int:
    try:
        status = json.loads((workdir / "state" / "status.json").read_text())
    except (OSError, ValueError):
        return 0
    return sum(s.get("node") is not None for s in status.get("services", {}).values())


def run(hosts: str, workdir: Path, services: int, seconds: float) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    pool = BackendPool()
    ports = [pool.open(keepalive=True) for _ in range(BACKENDS)]
    cfg = write_json(workdir / "nerve.json", config(hosts, workdir, ports, services))
    nerve = DaemonProcess("nerve_py", cfg, workdir / "nerve.log").start()
    try:
        wait_for(lambda: registered(workdir) == services, 120, 0.5, "every service registered")
        time.sleep(min(5.0, seconds / 3))  # warm-up: start-up bursts are not steady state
        return _measure(pool, CpuWindow(psutil.Process(nerve.pid)), services, seconds)
    finally:
        nerve.stop()
        pool.stop()


def _measure(pool: BackendPool, window: CpuWindow, services: int, seconds: float) -> dict:
    pool.ask("record")
    window.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        window.sample()
    cpu = window.cpu_percent()
    lags = [(gap - INTERVAL) * 1000 for gap in json.loads(pool.ask("gaps"))]
    p99 = percentile(lags, 99)
    return {
        "services": services,
        "cpu_percent": cpu,
        "rss_mb": window.rss_mb(),
        "check_lag_p99_ms": None if p99 is None else round(p99, 1),
    }
