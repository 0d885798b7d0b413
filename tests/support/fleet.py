"""A fleet for fault tests: nerve-py hosts and one synapse-py with HAProxy, on one ensemble."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from kazoo.exceptions import NoNodeError
from kazoo.retry import KazooRetry

from .haproxy import HAPROXY
from .procs import wait_for
from .rigs import NerveRig, SynapseRig

SESSION = 4  # zk_session_timeout of every daemon in this suite, seconds
_retry = KazooRetry(max_tries=-1, delay=0.1, max_delay=0.5, deadline=20)


class Fleet:
    """One synapse-py (service `web`) and any number of nerve-py hosts on one ensemble."""

    def __init__(self, tmp: Path, zk_hosts: str, zk_root: str, **synapse_kw):
        self.tmp, self.zk_hosts, self.zk_root = tmp, zk_hosts, zk_root
        self.synapse = SynapseRig(tmp, zk_hosts, zk_root, **synapse_kw)
        self.synapse.session_timeout = SESSION
        self.nerves: list[NerveRig] = []

    def nerve(self, instance_id: str, backends, service: str = "web", prefix=(), **svc):
        """A nerve-py host registering each of `backends` in `service` (not started)."""
        folder = self.tmp / f"nerve-{instance_id}"
        folder.mkdir()
        rig = NerveRig(folder, self.zk_hosts, self.zk_root, prefix=prefix)
        svc = {"zk_path": rig.path(service), **svc}
        rig.write(
            *(rig.service(f"{service}-{b.name}", b.port, host=b.host, **svc) for b in backends),
            instance_id=instance_id,
            zk_session_timeout=SESSION,
        )
        self.nerves.append(rig)
        return rig

    def serve(self, *backends, service: str = "web", timeout: float = 20, **options) -> int:
        """Start synapse-py for `service`; wait until HAProxy routes to exactly `backends`."""
        port = self.synapse.add_service(service)
        self.synapse.services[service].update(options)
        self.synapse.start()
        self.wait_live(backends, service, timeout)
        return port

    def wait_live(self, backends, service: str = "web", timeout: float = 20) -> None:
        """Wait until HAProxy routes `service` to exactly `backends`, and haproxy.cfg (written in
        the background after a runtime change) and file_output say so."""
        want = {f"{b.host}:{b.port}" for b in backends}
        wait_for(
            lambda: (
                _live(self.synapse, service) == want
                and self.listed(service) == want
                and self.configured(service) == want
            ),
            timeout,
            0.1,
            f"{service} live, listed and configured = {want}",
        )

    def configured(self, service: str = "web") -> set[str] | None:
        """host:port of each server haproxy.cfg gives the service (not those in maintenance)."""
        try:
            text = Path(self.synapse.hx.config).read_text()
        except OSError:
            return None
        found, inside = set(), False
        for line in text.splitlines():
            if not line.startswith(" "):
                inside = line.strip() == f"backend {service}"
            elif inside and line.split()[:1] == ["server"] and "disabled" not in line.split():
                found.add(line.split()[2])
        return found

    def listed(self, service: str = "web") -> set[str] | None:
        """host:port of each backend in the service's file_output file."""
        try:
            entries = json.loads((self.synapse.out_dir / f"{service}.json").read_text())
        except (OSError, ValueError):
            return None
        return {f"{e['host']}:{e['port']}" for e in entries}

    def outputs(self) -> dict[str, str]:
        """What synapse-py wrote: haproxy.cfg and every file_output file."""
        files = [Path(self.synapse.hx.config), *sorted(self.synapse.out_dir.glob("*.json"))]
        return {f.name: f.read_text() for f in files}

    def logs(self) -> str:
        parts = [("synapse", self.synapse.proc)] if self.synapse.proc else []
        parts += [(f"nerve {p.log_path.name}", p) for rig in self.nerves for p in rig.procs]
        return "\n".join(f"--- {name} ---\n{p.output()[-5000:]}" for name, p in parts)

    def stop(self) -> None:
        for rig in self.nerves:
            for p in rig.procs:
                p.kill()
        self.synapse.stop()


def _live(synapse: SynapseRig, service: str) -> set[str] | None:
    try:
        return synapse.live_servers(service)
    except (OSError, Exception):  # noqa: BLE001 - HAProxy not answering yet
        return None


def children(zk, path: str) -> list[str]:
    """The node names under `path` ([] when it does not exist), retried over connection loss."""
    return sorted(_retry(lambda: zk.get_children(path) if zk.exists(path) else []))


def one_child(zk, path: str, timeout: float = 10) -> str:
    """Wait until exactly one node is under `path`; its name."""
    return wait_for(
        lambda: (c := children(zk, path)) and len(c) == 1 and c[0],
        timeout,
        message=f"one node under {path}",
    )


def registered(zk, path: str) -> set[int]:
    """The ports registered under `path`, one entry per node (a duplicate shows as a count).
    A node deleted between the listing and its read (a session expiring) is gone: left out."""
    ports = []
    for child in children(zk, path):
        try:
            ports.append(json.loads(_retry(zk.get, f"{path}/{child}")[0])["port"])
        except NoNodeError:
            continue
    return set(ports) if len(ports) == len(set(ports)) else {-1, *ports}


def child_changes(zk, path: str) -> int:
    """How many children were ever created or deleted under `path` (ZooKeeper's cversion)."""
    return _retry(zk.exists, path).cversion


def haproxy_accepts(config: str) -> bool:
    result = subprocess.run([HAPROXY, "-c", "-q", "-f", config], capture_output=True, timeout=30)
    return result.returncode == 0
