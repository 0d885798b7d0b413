"""A backend's servers changed over HAProxy's runtime API: `add server`, `set server`, drains.

`converge` brings one backend of the running HAProxy to its planned servers without a reload:

- a join is `add server <backend>/<name> <addr>:<port> id N <options>` (without the `cookie`,
  which `add server` refuses: see haproxy/config.runtime_refusal), then `enable health` /
  `enable agent` where the options ask for checks, then `set server ... state ready` (a dynamic
  server starts in maintenance);
- a weight or maintenance change is `set server`;
- a leave puts the server in maintenance (no new traffic, its sessions go on) and hands it to the
  Drainer, which deletes it once its sessions have ended, or after `drain_timeout` seconds
  ending what is left with `shutdown sessions server`. A server that comes back while draining
  is simply made ready again.

It returns False, touching nothing, when only a reload can get there: a server whose options
changed, or, in a backend whose servers are structure (`dynamic=False`), a server that is not
there. HaproxySocketError from a refused command reaches the caller, which reloads.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager

from ...proxy.haproxy_socket import CommandFailed, HaproxySocket, HaproxySocketError, ServerStateRow
from .members import Server

log = logging.getLogger(__name__)

DRAIN_TIMEOUT = 5.0  # seconds a leaving server's sessions get before they are shut down
_TOKEN = re.compile(r"^[^\s;#\x00-\x1f\x7f]+$")  # one CLI argument: never a separator


class RuntimeRefused(HaproxySocketError):
    """A change the runtime API cannot carry (an option it would misread): reload instead."""


def converge(
    sock: HaproxySocket,
    backend: str,
    servers: Sequence[Server],
    known: dict[str, str],
    drainer: Drainer,
    dynamic: bool = True,
) -> int | None:
    """Bring `backend` to `servers`; `known` maps each live server's name to its structure as
    HAProxy loaded or added it (updated here). The number of commands sent, or None if it takes
    a reload."""
    rows = {r.server: r for r in sock.show_servers_state(backend)}
    if not dynamic and set(rows) != {s.name for s in servers}:
        return None
    if any(s.name in rows and known.get(s.name) != s.structure for s in servers):
        return None
    for name in [n for n in known if n not in rows]:
        del known[name]  # deleted: its id is free
    sent = 0
    for server in servers:
        drainer.cancel(backend, server.name)
        live = rows.get(server.name)
        commands = add(backend, server) if live is None else set_commands(backend, server, live)
        for command in commands:
            _send(sock, command)
            sent += 1
        known[server.name] = server.structure
    wanted = {s.name for s in servers}
    for name in [n for n in rows if n not in wanted and not drainer.draining(backend, n)]:
        _send(sock, f"set server {backend}/{name} state maint")
        drainer.drain(backend, name)
        sent += 1
    return sent


def add(backend: str, server: Server) -> Iterator[str]:
    """The commands that add `server` to `backend` and let it take traffic when it should."""
    where = f"{backend}/{server.name}"
    tokens = _tokens(server)
    auto = [] if server.pinned else [f"id {server.id}"]
    yield " ".join(("add server", where, server.hostport, *auto, *tokens))
    if "check" in tokens:
        yield f"enable health {where}"
    if "agent-check" in tokens:
        yield f"enable agent {where}"
    if server.state == "ready":
        yield f"set server {where} state ready"


def set_commands(backend: str, server: Server, live: ServerStateRow) -> Iterator[str]:
    """The `set server` commands that turn `live` into `server`: maintenance first, readiness
    last, so a server never takes traffic at a half-set address."""
    where = f"{backend}/{server.name}"
    if server.state == "maint" and live.state != "maint":
        yield f"set server {where} state maint"
    if not _same_address(live, server):
        yield f"set server {where} addr {server.address} port {server.port}"
    if live.weight != server.weight:
        yield f"set server {where} weight {server.weight}"
    if server.state == "ready" and live.state != "ready":
        yield f"set server {where} state ready"


def _tokens(server: Server) -> list[str]:
    tokens = server.options.split()
    unsafe = [t for t in tokens if not _TOKEN.match(t)]
    if unsafe:
        raise RuntimeRefused(f"{server.name}: option {unsafe[0]!r} cannot go through the CLI")
    return tokens


def _send(sock: HaproxySocket, command: str) -> None:
    answer = sock.send(command).strip()
    if answer and not answer.startswith(_OK):
        raise CommandFailed(f"{command}: {answer!r}")


_OK = ("New server registered", "IP changed from", "no need to change", "Server deleted")


def _same_address(live: ServerStateRow, server: Server) -> bool:
    try:
        same_ip = ipaddress.ip_address(live.addr) == ipaddress.ip_address(server.address)
    except ValueError:
        same_ip = False
    return same_ip and live.port == server.port


MANY_DRAINING = 16  # backends with drains, past which all servers' stats are read at once


class Drainer:
    """Deletes servers put in maintenance once their sessions end (bounded), on its own thread."""

    def __init__(
        self,
        sock: HaproxySocket,
        lock: AbstractContextManager,
        timeout: float = DRAIN_TIMEOUT,
        interval: float = 0.1,
    ):
        self.timeout = timeout
        self.interval = interval
        self.deleted = 0
        self.shut_down = 0  # servers whose sessions were ended at the bound
        self._sock = sock
        self._lock = lock  # the generator's: a deletion never races a convergence
        self._due: dict[tuple[str, str], float] = {}  # (backend, server) -> shutdown time
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="haproxy-drain", daemon=True)
        self._thread.start()

    def drain(self, backend: str, server: str) -> None:
        """Delete `server` (already in maintenance) once it is idle."""
        self._due[(backend, server)] = time.monotonic() + self.timeout
        self._wake.set()

    def cancel(self, backend: str, server: str) -> None:
        """`server` is wanted again: keep it."""
        self._due.pop((backend, server), None)

    def draining(self, backend: str, server: str | None = None) -> bool | set[str]:
        """Is `server` draining? Without one: the names draining in `backend`."""
        if server is not None:
            return (backend, server) in self._due
        return {s for b, s in self._due if b == backend}

    def forget(self) -> None:
        """HAProxy reloads: the servers to drain stay with the old worker, which ends them."""
        self._due.clear()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self.interval if self._due else None)
            self._wake.clear()
            backends = {backend for backend, _ in list(self._due)}
            if not backends:
                continue
            try:  # asked without the lock: a change is never held up by this poll
                busy = self._busy_servers(backends)
            except HaproxySocketError as exc:
                log.debug("drains postponed: %s", exc)
                continue
            with self._lock:
                for key, due in list(self._due.items()):
                    if key[0] in backends:
                        self._attempt(key, due, key in busy)

    def _attempt(self, key: tuple[str, str], due: float, busy: bool) -> None:
        where, late = "/".join(key), time.monotonic() >= due
        if busy and not late:
            return
        try:
            if busy:
                self._sock.send(f"shutdown sessions server {where}")
                self.shut_down += 1
            answer = self._sock.send(f"del server {where}").strip()
        except HaproxySocketError as exc:
            log.debug("%s: drain postponed: %s", where, exc)
            return
        if answer.startswith("Server deleted") or "No such server" in answer:
            self._due.pop(key, None)
            self.deleted += answer.startswith("Server deleted")
        elif time.monotonic() >= due + self.timeout:
            log.warning("%s: HAProxy keeps refusing to delete it: %s", where, answer)
            self._due.pop(key, None)  # the next change in its backend drains it again

    def _busy_servers(self, backends: set[str]) -> set[tuple[str, str]]:
        """(backend, server) of the servers of `backends` with sessions or a queue (`show stat
        <backend id> 4 -1`, one backend at a time: the cost follows the drains, not the servers)."""
        if len(backends) > MANY_DRAINING:  # then one answer about every server costs less
            return _busy(self._sock.send("show stat -1 4 -1"), backends)
        busy = set()
        for backend in sorted(backends):
            rows = self._sock.show_servers_state(backend)  # its id: a frontend may share its name
            if rows:
                busy |= _busy(self._sock.send(f"show stat {rows[0].backend_id} 4 -1"), backends)
        return busy


def _busy(stat: str, backends: set[str]) -> set[tuple[str, str]]:
    """(backend, server) of the servers in `show stat` CSV with sessions or a queue."""
    busy = set()
    for line in stat.splitlines()[1:]:
        fields = line.split(",")
        queued_or_serving = len(fields) > 4 and ({fields[2], fields[4]} - {"0", ""})
        if queued_or_serving and fields[0] in backends:
            busy.add((fields[0], fields[1]))
    return busy
