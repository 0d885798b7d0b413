"""A nerve-py service and a stand-in reporter (no ZooKeeper), for ServiceWatcher unit tests."""

from __future__ import annotations

import json
from dataclasses import replace

from nerve_py.config import CheckSpec, ServiceConfig


class FakeConnection:
    connected = True


class FakeReporter:
    """Records what the watcher asks for; `failing` makes every sync a failed report."""

    def __init__(self, failing: bool = False):
        self.conn = FakeConnection()
        self.failing = failing
        self.synced: list[bool] = []
        self.node: str | None = None
        self.failures = 0
        self.rechecks = 0
        self.touches = 0

    def sync(self, up: bool) -> None:
        self.synced.append(up)
        if self.failing:
            self.failures += 1
        else:
            self.node = "/web/i-1_0000000001" if up else None

    def recheck(self) -> None:
        self.rechecks += 1
        self.failures = 0

    def touch(self) -> None:
        self.touches += 1

    def deregister(self) -> None:
        self.node = None


def spec(conf: dict) -> CheckSpec:
    return CheckSpec(conf["type"], json.dumps(conf, sort_keys=True))


def service(*checks: dict, **changes) -> ServiceConfig:
    base = ServiceConfig(
        name="web",
        instance_id="i-1",
        host="127.0.0.1",
        port=1,  # nothing listens there
        zk_hosts=("unused:2181",),
        zk_path="/web",
        checks=tuple(spec(c) for c in checks),
        check_interval=0.05,
    )
    return replace(base, **changes)
