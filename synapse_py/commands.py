"""One-shot CLI commands (render, status), kept out of cli.py's exit-code logic."""

from __future__ import annotations

import dataclasses

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

from smartstack_common.cli import Echo, print_table

from .backend import Backend
from .config import ServiceConfig, SynapseConfig
from .generators.haproxy import HaproxyGenerator
from .membership import ServiceMembers, desired_backends
from .proxy.haproxy_socket import HaproxySocket, HaproxySocketError
from .registry_config import RegistryConfigs


def read_membership(
    config: SynapseConfig, timeout: float, registry: RegistryConfigs | None = None
) -> dict[str, tuple[Backend, ...]]:
    """Read every service's backends from ZooKeeper once (validated, as the daemon would); with
    `registry`, the services' own znode data too."""
    clients: dict[str, KazooClient] = {}
    try:
        return {
            svc.name: _read_service(svc, _client(svc, clients, config, timeout), registry, config)
            for svc in config.services
        }
    finally:
        for c in clients.values():
            c.stop()
            c.close()


def _client(svc: ServiceConfig, clients: dict, config: SynapseConfig, timeout: float):
    if svc.discovery.method != "zookeeper":
        return None
    hosts = ",".join(sorted(svc.discovery.hosts))
    if hosts not in clients:
        clients[hosts] = KazooClient(
            hosts=hosts, timeout=config.zk_session_timeout, **config.zk_security.client_options()
        )
        clients[hosts].start(timeout=timeout)
    return clients[hosts]


def _read_service(svc: ServiceConfig, client, registry, config: SynapseConfig):
    if client is None:
        return desired_backends(svc, (), None)
    try:
        names = tuple(client.get_children(svc.discovery.path))
        if registry is not None:
            trusted = bool(config.haproxy and config.haproxy.trust_registry_config)
            registry.update(svc, client.get(svc.discovery.path)[0], trusted)
    except NoNodeError:
        names = ()
    found = ServiceMembers(svc).backends(names, lambda p: client.get(p)[0])
    return desired_backends(svc, found, None)


def render_haproxy_config(config: SynapseConfig, timeout: float) -> str:
    """The haproxy.cfg for the current ZooKeeper state; touches neither HAProxy nor the disk."""
    offline = dataclasses.replace(
        config.haproxy, do_writes=False, do_reloads=False, do_socket=False
    )
    gen = HaproxyGenerator(offline)
    registry = RegistryConfigs()
    try:
        membership = read_membership(config, timeout, registry)
        return gen.render([registry.effective(s) for s in config.services], membership)
    finally:
        gen.stop()


def show_status(config: SynapseConfig, echo: Echo) -> bool:
    """Print each service's servers as HAProxy holds them; False if the socket cannot be read."""
    hap = config.haproxy
    if hap is None or not hap.socket_file_path:
        echo("no haproxy admin socket configured (haproxy.socket_file_path)")
        return False
    sock = HaproxySocket(hap.socket_file_path)
    rows = []
    try:
        for svc in config.services:
            rows += _service_rows(svc, sock)
    except HaproxySocketError as e:
        echo(f"cannot read HAProxy admin socket {hap.socket_file_path}: {e}")
        return False
    print_table(("SERVICE", "SERVER", "ADDRESS", "WEIGHT", "ADMIN", "HEALTH"), rows, echo)
    return True


def _service_rows(svc: ServiceConfig, sock: HaproxySocket) -> list[tuple]:
    if svc.haproxy.disabled:
        return [(svc.name, "-", "(haproxy disabled)", "", "", "")]
    out = []
    for r in sock.show_servers_state(svc.backend_name):
        health = "UP" if r.running else "DOWN"
        out.append((svc.name, r.server, f"{r.addr}:{r.port}", r.weight, r.state, health))
    return out or [(svc.name, "-", "(no backends)", "", "", "")]
