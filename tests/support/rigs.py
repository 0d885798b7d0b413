"""Rigs that run nerve-py and synapse-py as real processes on configs they write."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

from synapse_py.proxy.haproxy_socket import HaproxySocket, HaproxySocketError

from .haproxy import HaproxyFiles
from .ports import free_port
from .procs import DaemonProcess, wait_for, write_json

_ids = itertools.count()


class NerveRig:
    """Builds nerve configs in a temp folder and runs nerve-py processes on them."""

    def __init__(self, tmp_path: Path, zk_hosts: str, zk_root: str, prefix: tuple[str, ...] = ()):
        self.tmp = tmp_path
        self.prefix = prefix  # a command the daemon runs under, e.g. `ip netns exec <ns>`
        self.zk_hosts = zk_hosts
        self.zk_root = zk_root
        self.state_dir = tmp_path / "nerve-state"
        self.config_path = tmp_path / "nerve.json"
        self.procs: list[DaemonProcess] = []

    def path(self, service: str) -> str:
        return f"{self.zk_root}/{service}/services"

    def service(
        self, name: str, port: int, checks: list | None = None, **extra
    ) -> tuple[str, dict]:
        svc = {
            "host": "127.0.0.1",
            "port": port,
            "zk_hosts": self.zk_hosts.split(","),
            "zk_path": self.path(name),
            "check_interval": 0.2,
            "checks": checks
            if checks is not None
            else [{"type": "http", "uri": "/health", "timeout": 1, "rise": 1, "fall": 1}],
        }
        svc.update(extra)
        return name, svc

    def write(self, *services: tuple[str, dict], **top) -> Path:
        conf = {
            "instance_id": top.pop("instance_id", "i-test"),
            "services": dict(services),
            "state_dir": str(self.state_dir),
            "zk_session_timeout": 3,
        }
        conf.update(top)
        return write_json(self.config_path, conf)

    def start(self, args: tuple[str, ...] = (), env: dict | None = None) -> DaemonProcess:
        proc = DaemonProcess(
            "nerve_py",
            self.config_path,
            self.tmp / f"nerve-{next(_ids)}.log",
            ("--log-level", "debug", *args),
            env=env,
            prefix=self.prefix,
        )
        self.procs.append(proc.start())
        return proc

    def stop_all(self) -> None:
        for p in self.procs:
            p.stop()


class SynapseRig:
    """A synapse config in a temp folder, its HAProxy files, and the synapse-py process."""

    def __init__(
        self,
        tmp_path: Path,
        zk_hosts: str,
        zk_root: str,
        files_dir: Path | None = None,
        prefix: tuple[str, ...] = (),
    ):
        """`files_dir` holds haproxy.cfg, the state file and file_output (default `tmp_path`)."""
        self.tmp = tmp_path
        self.zk_hosts = zk_hosts
        self.zk_root = zk_root
        self.files = files_dir or tmp_path
        self.prefix = prefix  # a command the daemon runs under, e.g. `ip netns exec <ns>`
        self.bind_address = "127.0.0.1"
        self.session_timeout = 3
        self.hx = HaproxyFiles(self.files)
        self.config_path = tmp_path / "synapse.json"
        self.state_path = self.files / "synapse-state.json"
        self.out_dir = self.files / "out"
        self.ports: dict[str, int] = {}
        self.services: dict[str, dict] = {}
        self.proc: DaemonProcess | None = None
        self.extra: dict = {}
        self.haproxy_extra: dict = {}  # more keys of the top-level haproxy section
        self.use_state_file = True  # haproxy.state_file_path in the config

    def path(self, name: str) -> str:
        return f"{self.zk_root}/{name}/services"

    def add_service(self, name: str, **haproxy) -> int:
        self.ports[name] = port = free_port()
        self.services[name] = {
            "discovery": {
                "method": "zookeeper",
                "hosts": self.zk_hosts.split(","),
                "path": self.path(name),
            },
            "haproxy": {"port": port, "server_options": "", **haproxy},
        }
        return port

    def write(self) -> Path:
        conf = {
            "services": self.services,
            "zk_session_timeout": self.session_timeout,
            "haproxy": {
                "bind_address": self.bind_address,
                "config_file_path": self.hx.config,
                "reload_command": self.hx.reload_command,
                "socket_file_path": self.hx.socket,
                **({"state_file_path": str(self.state_path)} if self.use_state_file else {}),
                "restart_interval": 0.5,
                **self.haproxy_extra,
                "global": ["maxconn 256"],
                "defaults": [
                    "mode http",
                    "timeout connect 1s",
                    "timeout client 5s",
                    "timeout server 5s",
                ],
            },
            "file_output": {"output_directory": str(self.out_dir)},
            **self.extra,
        }
        return write_json(self.config_path, conf)

    def start(self, args: tuple[str, ...] = (), env: dict | None = None) -> DaemonProcess:
        self.write()
        self.proc = DaemonProcess(
            "synapse_py",
            self.config_path,
            self.tmp / f"synapse-{time.monotonic_ns()}.log",
            ("--log-level", "debug", *args),
            env=env,
            prefix=self.prefix,
        ).start()
        wait_for(lambda: self.worker_pid(), 15, message="HAProxy started by synapse-py")
        return self.proc

    def worker_pid(self) -> str | None:
        try:
            return HaproxySocket(self.hx.socket).show_info().get("Pid")
        except (HaproxySocketError, OSError):
            return None

    def live_servers(self, service: str) -> set[str]:
        rows = HaproxySocket(self.hx.socket).show_servers_state(service)
        return {f"{r.addr}:{r.port}" for r in rows if not r.maint}

    def weights(self, service: str) -> dict[str, int]:
        rows = HaproxySocket(self.hx.socket).show_servers_state(service)
        return {f"{r.addr}:{r.port}": r.weight for r in rows if not r.maint}

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "synapse_py.cli", *args, "-c", str(self.config_path)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
        )

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()
        self.hx.stop()


def register(zk, path: str, backend, name: str | None = None, **extra) -> str:
    """Register `backend` under `path` as nerve would (ephemeral, sequential); the node path."""
    data = {"host": backend.host, "port": backend.port, "name": name or backend.name, **extra}
    return zk.create(
        f"{path}/{data['name']}_",
        json.dumps(data).encode(),
        ephemeral=True,
        sequence=True,
        makepath=True,
    )
