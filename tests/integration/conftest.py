"""Fixtures that run nerve-py against the session ZooKeeper."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from support.procs import DaemonProcess, write_json

_ids = itertools.count()


class NerveRig:
    """Builds nerve configs in a temp folder and runs nerve-py processes on them."""

    def __init__(self, tmp_path: Path, zk_hosts: str, zk_root: str):
        self.tmp = tmp_path
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

    def start(self) -> DaemonProcess:
        proc = DaemonProcess(
            "nerve_py",
            self.config_path,
            self.tmp / f"nerve-{next(_ids)}.log",
            ("--log-level", "debug"),
        )
        self.procs.append(proc.start())
        return proc

    def stop_all(self) -> None:
        for p in self.procs:
            p.stop()


@pytest.fixture
def nerve(tmp_path, zk_server, zk_root, request):
    rig = NerveRig(tmp_path, zk_server.hosts, zk_root)
    yield rig
    rig.stop_all()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        for p in rig.procs:
            print(f"--- {p.log_path} ---\n{p.output()[-6000:]}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
