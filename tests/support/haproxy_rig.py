"""One HaproxyGenerator on a real master-worker HAProxy (started through its reload_command)."""

from __future__ import annotations

from synapse_py.config import HaproxyConfig
from synapse_py.generators.haproxy.generator import HaproxyGenerator
from synapse_py.proxy.haproxy_socket import HaproxySocket

from .haproxy import HAPROXY, HaproxyFiles

DEFAULTS = ("mode http", "timeout connect 1s", "timeout client 5s", "timeout server 5s")


class Rig:
    """One generator, its HAProxy files and its services."""

    def __init__(self, files: HaproxyFiles, **overrides):
        self.files = files
        self.config = HaproxyConfig(
            defaults=DEFAULTS,
            bind_address="127.0.0.1",
            config_file_path=files.config,
            reload_command=files.reload_command,
            socket_file_path=files.socket,
            restart_interval=0.0,
            **overrides,
        )
        self.gen = HaproxyGenerator(self.config, haproxy_bin=HAPROXY)
        self.socket = HaproxySocket(files.socket)

    def apply(self, services, membership) -> None:
        self.gen.apply(tuple(services), {k: tuple(v) for k, v in membership.items()})
        assert self.gen.flush(10)

    def worker_pid(self) -> str:
        return self.socket.show_info()["Pid"]

    def weights_of(self, backend: str) -> list[int]:
        return [w for _, _, w in self.servers(backend).values()]

    def servers(self, backend: str) -> dict[str, tuple]:
        """Live servers that can take traffic: slot -> (addr, port, weight)."""
        rows = self.socket.show_servers_state(backend)
        return {r.server: (r.addr, r.port, r.weight) for r in rows if r.state == "ready"}
