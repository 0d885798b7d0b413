"""What a running HAProxy routes to, read back over the admin socket or from the installed file.

At start, a service whose membership is not known yet (ZooKeeper has not answered, no state file)
keeps the servers HAProxy already runs instead of being emptied. The rows are HAProxy's, not the
registry's, but they are validated like registry data all the same before they are rendered.
The servers' ids come back the same way, so they survive a restart of synapse-py; and the
installed haproxy.cfg says which servers HAProxy loaded with which options.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ...backend import Backend, InvalidNode, backend_from_dict
from ...config import ServiceConfig
from ...proxy.haproxy_socket import CommandFailed, HaproxySocket, HaproxySocketError
from .members import Server, structure_of

log = logging.getLogger(__name__)
# the header line that records a drawn seed, so a restart and `render` shuffle the same way
SEED_COMMENT = "# server_order_seed (drawn, kept across restarts):"


class MembershipUnknown(Exception):
    """A service's membership is not known and HAProxy's cannot be read: touch nothing yet."""


def live_members(sock: HaproxySocket | None, backend: str) -> tuple[Backend, ...] | None:
    """The servers `backend` routes to now (not in maintenance); () if HAProxy runs without
    that backend; None if no HAProxy answers."""
    if sock is None:
        return None
    try:
        rows = sock.show_servers_state(backend)
    except CommandFailed:
        return ()  # HAProxy runs but has no such backend: nothing to keep
    except HaproxySocketError:
        return None
    found = []
    for row in rows:
        if row.maint:
            continue
        name, host = _registered(row.server, row.port)
        entry = {"host": host or row.addr, "port": row.port, "name": name, "weight": row.weight}
        try:
            found.append(backend_from_dict(entry))
        except InvalidNode as e:
            log.warning("%s: server %s read back from HAProxy skipped: %s", backend, row.server, e)
    return tuple(sorted(found))


def _registered(server: str, port: int) -> tuple[str, str]:
    """(name, host) from Ruby's server name `<name>_<host>:<port>` (a host has no `_`), or
    ("", "") when it is not one."""
    name, _, address = server.rpartition("_")
    host, _, found_port = address.rpartition(":")
    if not name or found_port != str(port) or not host:
        return "", ""
    return name, host.strip("[]")


def live_ids(sock: HaproxySocket | None, backend: str) -> dict[str, int]:
    """The id of each server `backend` runs ({} if it cannot be read)."""
    if sock is None:
        return {}
    try:
        return {r.server: r.id for r in sock.show_servers_state(backend) if r.id}
    except HaproxySocketError:
        return {}


@dataclass(frozen=True)
class InstalledServer:
    """A `server` line of the installed haproxy.cfg."""

    id: int | None
    structure: str  # as haproxy/members.Server.structure writes it


_ID = re.compile(r"(?:^| )id ([0-9]+)(?: |$)")


def installed_servers(text: str) -> dict[str, dict[str, InstalledServer]]:
    """The server lines of a haproxy.cfg, by backend and server name."""
    found: dict[str, dict[str, InstalledServer]] = {}
    backend = None
    for line in text.splitlines():
        tokens = line.split()
        if line[:1].strip():
            backend = tokens[1] if tokens[:1] == ["backend"] and len(tokens) > 1 else None
        elif backend and tokens[:1] == ["server"] and len(tokens) >= 3:
            options = " ".join(tokens[3:])
            match = _ID.search(options)
            server = InstalledServer(
                int(match.group(1)) if match else None, structure_of(tokens[3:])
            )
            found.setdefault(backend, {})[tokens[1]] = server
    return found


def read_installed(path: str | None) -> str:
    """The installed haproxy.cfg's text, "" if there is none."""
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return ""


def skeleton(text: str) -> list[str]:
    """haproxy.cfg without its server lines and comments: what a restart must find unchanged
    to adopt (a file written before the seed comment existed is adopted all the same)."""
    lines = text.splitlines()
    return [line for line in lines if line.split()[:1] != ["server"] and line[:1] != "#"]


_SEED = re.compile(rf"^{re.escape(SEED_COMMENT)} ([0-9]+)$", re.MULTILINE)


def installed_seed(text: str) -> int | None:
    """The drawn server_order_seed the installed file records (templates/haproxy.cfg.j2)."""
    match = _SEED.search(text)
    return int(match.group(1)) if match else None


def adopted(
    text: str, services: Sequence[tuple[ServiceConfig, Sequence[Server]]], structure: dict
) -> tuple[dict, dict[str, dict[str, str]]]:
    """The structure and servers a HAProxy running the installed `text` has, given the plan's
    `structure`: a backend whose servers are structure (haproxy/config.signature) and differ
    from the planned ones gets None (a reload); the others converge by runtime API."""
    listed = installed_servers(text)
    structure, known = dict(structure), {}
    for svc, servers in services:
        here = {name: s.structure for name, s in listed.get(svc.backend_name, {}).items()}
        known[svc.backend_name] = here
        if structure[svc.backend_name][2] and here != {s.name: s.structure for s in servers}:
            structure[svc.backend_name] = None
    return structure, known
