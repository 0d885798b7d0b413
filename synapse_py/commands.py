"""One-shot CLI commands (render, status), kept out of cli.py's exit-code logic.

They raise synapse_py.errors' exceptions; cli.py alone turns those into exit codes.
"""

from __future__ import annotations

import difflib
import json
import queue
from pathlib import Path

from smartstack_common.cli import EXIT_NOT_RUNNING, Echo

from .backend import Backend
from .config import HaproxyConfig, ServiceConfig, SynapseConfig
from .desired import desired_backends
from .discovery import DiscoveryContext, methods
from .errors import ConfigError, ProxyUnavailable, RegistryUnavailable
from .generators.haproxy.generator import HaproxyGenerator
from .generators.haproxy.readback import read_installed
from .proxy.haproxy_socket import HaproxySocket, HaproxySocketError
from .registry_config import RegistryConfigs
from .status import print_status, status_document, status_path


def read_membership(
    config: SynapseConfig, timeout: float, registry: RegistryConfigs | None = None
) -> dict[str, tuple[Backend, ...]]:
    """Read every service's backends once, each by its discovery method (validated, as the
    daemon would); with `registry`, the services' own registry data too.

    RegistryUnavailable names the first service whose registry could not be read.
    """
    context = DiscoveryContext(config, queue.Queue())
    try:
        return {svc.name: _read_service(svc, context, timeout, registry) for svc in config.services}
    finally:
        context.stop()


def _read_service(svc: ServiceConfig, context: DiscoveryContext, timeout: float, registry):
    method = svc.discovery.method
    try:
        found, data = methods()[method].snapshot(svc, context, timeout)
    except Exception as e:  # noqa: BLE001 - a plug-in fails in its own way; one line names it
        why = f"{type(e).__name__}: {e}"
        raise RegistryUnavailable(f"services.{svc.name}: cannot read {method}: {why}") from e
    if registry is not None and data is not None:
        config = context.config
        trusted = bool(config.haproxy and config.haproxy.trust_registry_config)
        registry.update(svc, data, trusted)
    return desired_backends(svc, found, None)


def render_haproxy_config(config: SynapseConfig, timeout: float) -> str:
    """The haproxy.cfg for the current ZooKeeper state, byte for byte what the daemon would
    install: the daemon's generator with the daemon's config, offline (it asks, reloads and
    writes nothing). It reads the installed file, as the daemon does, for the server ids and
    the drawn server_order_seed."""
    gen = HaproxyGenerator(_haproxy(config), offline=True)
    registry = RegistryConfigs()
    try:
        membership = read_membership(config, timeout, registry)
        return gen.render([registry.effective(s) for s in config.services], membership)
    finally:
        gen.stop()


def _haproxy(config: SynapseConfig) -> HaproxyConfig:
    if config.haproxy is None:
        raise ConfigError(f"{config.source}: haproxy: missing, so there is nothing to render")
    return config.haproxy


def diff_installed(config: SynapseConfig, rendered: str) -> str:
    """A unified diff from the installed haproxy.cfg to `rendered` ("" when they are the same);
    a file not installed yet reads as empty."""
    path = _haproxy(config).config_file_path
    if not path:
        raise ConfigError(
            f"{config.source}: haproxy.config_file_path: not set, so there is no installed file"
        )
    installed = read_installed(path)
    label = path if installed or Path(path).exists() else f"{path} (not installed)"
    lines = difflib.unified_diff(
        installed.splitlines(keepends=True), rendered.splitlines(keepends=True), label, "rendered"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def show_status(config: SynapseConfig, as_json: bool, echo: Echo, say: Echo) -> int:
    """Print each service's servers as HAProxy holds them (its admin socket), marked live or
    kept (from the daemon's status file); a table or the JSON document. The exit code:
    EXIT_NOT_RUNNING when synapse-py is not running (HAProxy may still serve), else 0."""
    hap = config.haproxy
    if hap is None or not hap.socket_file_path:
        raise ConfigError(
            f"{config.source}: haproxy.socket_file_path: not set, so there is no HAProxy admin "
            "socket to read"
        )
    status_path(config)  # a config error before any socket is touched
    try:
        daemon, doc = status_document(config, HaproxySocket(hap.socket_file_path))
    except HaproxySocketError as e:
        raise ProxyUnavailable(
            f"cannot read HAProxy admin socket {hap.socket_file_path}: {e}"
        ) from e
    if not daemon.running:
        say(daemon.why)
    if as_json:
        echo(json.dumps(doc, indent=2, sort_keys=True))
    else:
        print_status(doc, echo)
    return 0 if daemon.running else EXIT_NOT_RUNNING
