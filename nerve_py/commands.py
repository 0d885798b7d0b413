"""The one-shot CLI commands (check, status, maint), kept out of cli.py's exit-code logic."""

from __future__ import annotations

import time
from collections.abc import Iterator

from kazoo.client import KazooClient

from smartstack_common.cli import Echo, print_table

from .checks import build_checks, run_check
from .config import NerveConfig
from .errors import UnknownService
from .state import StateDir

STALE_AFTER = 10.0  # seconds; the daemon rewrites its status file at least every 3 s


def _services(config: NerveConfig, name: str | None):
    if name is None:
        return config.services
    if name not in {s.name for s in config.services}:
        raise UnknownService(config.source, name, (s.name for s in config.services))
    return (config.service(name),)


def run_checks_once(config: NerveConfig, name: str | None, echo: Echo) -> bool:
    """Run every check of the chosen services once; print a table; True if all pass."""
    rows, all_ok = [], True
    for svc in _services(config, name):
        for check in build_checks((s.params() for s in svc.checks), svc.host, svc.port):
            ok, reason = run_check(check)
            check.close()
            all_ok &= ok
            rows.append((svc.name, check.name, "PASS" if ok else "FAIL", reason))
    print_table(("SERVICE", "CHECK", "RESULT", "DETAIL"), rows, echo)
    return all_ok


def show_status(config: NerveConfig, echo: Echo) -> None:
    """Health and maintenance from the running daemon's status file, the node from ZooKeeper."""
    state = StateDir(config.state_dir)
    status = state.read_status()
    fresh = time.time() - status.get("updated", 0) < STALE_AFTER
    running = status.get("services", {}) if fresh else {}
    if not fresh:
        echo(f"nerve-py is not running (no fresh status in {state.status_path})")
    rows = []
    ensembles = _Ensembles(config)
    try:
        for svc in config.services:
            st = running.get(svc.name, {})
            health = "unknown" if not st else ("up" if st.get("healthy") else "down")
            maint = "yes" if state.in_maintenance(svc.name) else "no"
            rows.append((svc.name, health, maint, ensembles.node_state(svc, st.get("node"))))
    finally:
        ensembles.close()
    print_table(("SERVICE", "HEALTH", "MAINT", "NODE"), rows, echo)


class _Ensembles:
    """One short-lived client per ensemble, shared by every service that uses it."""

    def __init__(self, config: NerveConfig):
        self.config = config
        self._clients: dict[str, KazooClient | Exception] = {}

    def node_state(self, svc, node: str | None) -> str:
        if not node:
            return "-"
        try:
            client = self._client(svc.ensemble)
            return node if client.exists(node) else f"{node} (missing)"
        except Exception as e:  # noqa: BLE001 - status must print something for every service
            return f"{node} (ZooKeeper unreachable: {type(e).__name__})"

    def _client(self, ensemble: str) -> KazooClient:
        if ensemble not in self._clients:
            client = KazooClient(
                hosts=ensemble,
                timeout=self.config.zk_session_timeout,
                **self.config.zk_security.client_options(),
            )
            try:
                client.start(timeout=5)
                self._clients[ensemble] = client
            except Exception as e:  # noqa: BLE001 - remembered: one timeout per ensemble
                client.stop()
                client.close()
                self._clients[ensemble] = e
        found = self._clients[ensemble]
        if isinstance(found, Exception):
            raise found
        return found

    def close(self) -> None:
        for client in self._clients.values():
            if isinstance(client, KazooClient):
                client.stop()
                client.close()


def set_maintenance(config: NerveConfig, name: str | None, on: bool) -> Iterator[str]:
    state = StateDir(config.state_dir)
    for svc in _services(config, name):
        state.set_maintenance(svc.name, on)
        yield f"{svc.name}: maintenance {'on' if on else 'off'}"
