"""`nerve-py status`: the running daemon's view (its status file) and each node in ZooKeeper.

The document (`--json`, version 1) is what the table shows:

    {"program": "nerve-py", "version": 1,
     "daemon": {"running": bool, "pid": int|null, "updated": float|null},
     "services": {name: {"health": "up"|"down"|"unknown", "maintenance": bool,
                         "node": str|null, "node_state": "present"|"missing"|"unknown"|"none",
                         "checks": [{"name", "ok", "up", "reason"}]}}}

Health and checks come from the daemon only: with it stopped they are "unknown" and [].
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient

from smartstack_common.cli import Echo, print_table
from smartstack_common.daemon_status import DaemonState, daemon_state

from .config import NerveConfig, ServiceConfig
from .state import StateDir

VERSION = 1
#: seconds a slow ZooKeeper is waited on before `status` says on stderr whom it is asking
QUIET = 0.5
CHECK_KEYS = ("name", "ok", "up", "reason")


def status_document(config: NerveConfig, timeout: float, say: Echo) -> tuple[DaemonState, dict]:
    """The daemon's state and the document above; `say` gets the progress lines (stderr)."""
    state = StateDir(config.state_dir)
    status = state.read_status()
    daemon = daemon_state("nerve-py", str(state.status_path), status)
    running = status.get("services", {}) if daemon.running else {}
    wanted = Counter(s.ensemble for s in config.services if (running.get(s.name) or {}).get("node"))
    nodes = _NodeStates(config, timeout, say, wanted)
    try:
        services = {
            svc.name: _service(svc, running.get(svc.name) or {}, state, nodes)
            for svc in config.services
        }
    finally:
        nodes.close()
    doc = {"program": "nerve-py", "version": VERSION, "daemon": daemon.as_json()}
    return daemon, {**doc, "services": services}


def _service(svc: ServiceConfig, st: dict, state: StateDir, nodes: _NodeStates) -> dict:
    health = "unknown" if not st else ("up" if st.get("healthy") else "down")
    node = st.get("node") or None
    checks = [{k: c.get(k) for k in CHECK_KEYS} for c in st.get("checks", ())]
    return {
        "health": health,
        "maintenance": state.in_maintenance(svc.name),
        "node": node,
        "node_state": nodes.state(svc.ensemble, node),
        "checks": checks,
    }


def print_status(doc: dict, echo: Echo) -> None:
    """The document as a table: one row per service."""
    rows = [
        (name, s["health"], "yes" if s["maintenance"] else "no", _node_column(s))
        for name, s in doc["services"].items()
    ]
    print_table(("SERVICE", "HEALTH", "MAINT", "NODE"), rows, echo)


def _node_column(s: dict) -> str:
    node, found = s["node"], s["node_state"]
    if node is None:
        return "-"
    extra = {"missing": " (missing)", "unknown": " (ZooKeeper unreachable)"}
    return node + extra.get(found, "")


class _NodeStates:
    """Whether each node exists, with one short-lived client per ensemble (shared by its
    services); an ensemble that does not answer within `timeout` is given up once, said so."""

    def __init__(self, config: NerveConfig, timeout: float, say: Echo, wanted: Counter[str]):
        """`wanted`: how many nodes each ensemble is asked about (for the progress line)."""
        self.config, self.timeout, self.say = config, timeout, say
        self._clients: dict[str, KazooClient | None] = {}
        self._wanted = wanted
        # our two lines say what is tried and that it failed; kazoo's retry log is noise here
        logging.getLogger("kazoo").setLevel(logging.CRITICAL)

    def state(self, ensemble: str, node: str | None) -> str:
        if node is None:
            return "none"
        client = self._client(ensemble)
        if client is None:
            return "unknown"
        try:
            return "present" if client.exists(node) else "missing"
        except Exception:  # noqa: BLE001 - one node unknown, the others still shown
            return "unknown"

    def _client(self, ensemble: str) -> KazooClient | None:
        if ensemble not in self._clients:
            self._clients[ensemble] = self._connect(ensemble)
        return self._clients[ensemble]

    def _connect(self, ensemble: str) -> KazooClient | None:
        client = KazooClient(  # its socket timeout is the session timeout: one try, bounded
            hosts=ensemble,
            timeout=self.timeout,
            connection_retry={"max_tries": -1, "max_delay": 1},
            **self.config.zk_security.client_options(),
        )
        connected = _start(client, self.timeout, lambda: self._asking(ensemble))
        if connected:
            return client
        # stop() would wait for the connection attempt under way: let the exit end it instead
        threading.Thread(target=_close, args=(client,), daemon=True).start()
        self.say(f"nerve-py: ZooKeeper {ensemble} did not answer within {self.timeout:g}s")
        return None

    def _asking(self, ensemble: str) -> None:
        count = self._wanted.get(ensemble, 0)
        self.say(
            f"nerve-py: asking ZooKeeper {ensemble} whether {count} node(s) exist "
            f"(up to {self.timeout:g}s)"
        )

    def close(self) -> None:
        for client in self._clients.values():
            if client is not None:
                _close(client)


def _start(client: KazooClient, timeout: float, slow: Callable[[], Any]) -> bool:
    """Connect within `timeout` seconds; call `slow` once if it takes longer than QUIET."""
    done: threading.Event = client.start_async()
    if not done.wait(min(QUIET, timeout)):
        slow()
        done.wait(max(0.0, timeout - QUIET))
    return bool(client.connected)


def _close(client: KazooClient) -> None:
    client.stop()
    client.close()
