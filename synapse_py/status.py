"""`synapse-py status`: HAProxy's servers (admin socket) and what the daemon publishes about them.

The daemon rewrites its status file (`status_file_path`, by default `synapse-py-status.json`
beside haproxy.cfg) when a backend starts or stops being kept (synapse_py.kept), and at least
every STATUS_REFRESH seconds, so that a reader can tell it runs (smartstack_common.daemon_status):

    {"program": "synapse-py", "version": 1, "pid": int, "updated": float,
     "services": {name: {"kept": [{"host", "port", "name", "reason", "since"}]}}}

`status --json` prints (version 1):

    {"program": "synapse-py", "version": 1,
     "daemon": {"running": bool, "pid": int|null, "updated": float|null},
     "services": {name: {"haproxy": "enabled"|"disabled",
                         "backends": [{"server", "address", "weight", "admin", "health",
                                       "kept": null | {"reason", "since", "age_seconds"}}]}}}

With the daemon not running, `kept` is null throughout: nothing vouches for the file.
"""

from __future__ import annotations

import json
import logging
import os
import time

from smartstack_common.atomic import write_atomic
from smartstack_common.cli import Echo, print_table
from smartstack_common.daemon_status import DaemonState, daemon_state, read_document

from .config import ServiceConfig, SynapseConfig
from .errors import ConfigError
from .kept import KeptBackends
from .proxy.haproxy_socket import HaproxySocket

log = logging.getLogger(__name__)

VERSION = 1
STATUS_REFRESH = 3.0  # seconds; a reader calls a file older than 10 s stale


class StatusPublisher:
    """Writes the daemon's status file from the main loop: on a change of the kept backends,
    else every STATUS_REFRESH seconds. A failed write is logged once until one succeeds."""

    def __init__(self, path: str, kept: KeptBackends):
        self.path, self.kept = path, kept
        self._written: tuple[int, float] | None = None  # (kept version, time) of the last write
        self._failing = False

    def tick(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        version, kept = self.kept.snapshot()
        last = self._written
        if last is not None and last[0] == version and now - last[1] < STATUS_REFRESH:
            return
        services = {name: {"kept": [k.__dict__ for k in ks]} for name, ks in kept.items()}
        doc = {"program": "synapse-py", "version": VERSION, "pid": os.getpid(), "updated": now}
        try:
            write_atomic(self.path, _dumps({**doc, "services": services}), 0o640)
        except OSError as e:
            if not self._failing:
                log.warning("cannot write status file %s: %s", self.path, e.strerror or e)
            self._failing = True
            return
        self._written, self._failing = (version, now), False


def status_document(config: SynapseConfig, socket: HaproxySocket) -> tuple[DaemonState, dict]:
    """The daemon's state and the `--json` document; HaproxySocketError if HAProxy is silent."""
    path = status_path(config)
    published = read_document(path)
    daemon = daemon_state("synapse-py", path, published)
    kept = _kept_by_server(published, daemon.running, time.time())
    services = {svc.name: _service(svc, socket, kept.get(svc.name, {})) for svc in config.services}
    doc = {"program": "synapse-py", "version": VERSION, "daemon": daemon.as_json()}
    return daemon, {**doc, "services": services}


def status_path(config: SynapseConfig) -> str:
    if not config.status_file_path:
        raise ConfigError(
            f"{config.source}: status_file_path: not set (nor haproxy.config_file_path), so "
            "there is no status file to read"
        )
    return config.status_file_path


def _kept_by_server(published: dict, running: bool, now: float) -> dict[str, dict[str, dict]]:
    """service -> HAProxy server name -> its `kept` entry of the document ({} for a stopped
    daemon's file, or a file that is not what StatusPublisher writes)."""
    services = published.get("services")
    if not running or not isinstance(services, dict):
        return {}
    try:
        return {name: dict(map(lambda k: _kept_entry(k, now), entry["kept"]))
                for name, entry in services.items()}  # fmt: skip
    except (KeyError, TypeError, ValueError):
        return {}


def _kept_entry(k: dict, now: float) -> tuple[str, dict]:
    """(HAProxy server name, as Ruby synapse names it, and the document's `kept`)."""
    address = f"{k['host']}:{k['port']}"
    server = f"{k['name']}_{address}" if k["name"] else address
    since = float(k["since"])
    return server, {
        "reason": k["reason"],
        "since": since,
        "age_seconds": round(max(0.0, now - since), 1),
    }


def _service(svc: ServiceConfig, socket: HaproxySocket, kept: dict[str, dict]) -> dict:
    if svc.haproxy.disabled:
        return {"haproxy": "disabled", "backends": []}
    backends = [
        {
            "server": r.server,
            "address": f"{r.addr}:{r.port}",
            "weight": r.weight,
            "admin": r.state,
            "health": "UP" if r.running else "DOWN",
            "kept": kept.get(r.server),
        }
        for r in socket.show_servers_state(svc.backend_name)
    ]
    return {"haproxy": "enabled", "backends": backends}


def print_status(doc: dict, echo: Echo) -> None:
    """The document as a table: one row per server, SOURCE saying live or kept (and how long)."""
    known = doc["daemon"]["running"]
    rows = []
    for name, svc in doc["services"].items():
        if svc["haproxy"] == "disabled":
            rows.append((name, "-", "(haproxy disabled)", "", "", "", ""))
            continue
        for b in svc["backends"]:
            source = _source(b["kept"]) if known else "-"
            rows.append(
                (name, b["server"], b["address"], b["weight"], b["admin"], b["health"], source)
            )
        if not svc["backends"]:
            rows.append((name, "-", "(no backends)", "", "", "", ""))
    header = ("SERVICE", "SERVER", "ADDRESS", "WEIGHT", "ADMIN", "HEALTH", "SOURCE")
    print_table(header, rows, echo)


def _source(kept: dict | None) -> str:
    return "live" if kept is None else f"kept: {kept['reason']} {kept['age_seconds']:.0f}s"


def _dumps(doc: dict) -> str:
    return json.dumps(doc, sort_keys=True) + "\n"
