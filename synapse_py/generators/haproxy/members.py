"""The `server` lines of one HAProxy backend: one per live member, named and numbered as Ruby does.

A server is named as Ruby synapse names it (haproxy_servers.server_name) and carries a numeric
`id` that stays with its name for as long as it is in the membership, across reloads and
restarts of synapse-py (IdTable is seeded from the running HAProxy or the installed file). A new
server takes the lowest id that is free, as Ruby's server_id_map does; an id still held by a
server that is draining out of HAProxy is not free.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ...backend import Backend

DEFAULT_WEIGHT = 1  # HAProxy's default server weight


@dataclass(frozen=True)
class Server:
    """One `server` line: a backend at a resolved address, with Ruby's name, id and cookie."""

    name: str
    id: int
    backend: Backend
    address: str
    port: int
    options: str = ""  # Ruby's options after `id N cookie V` (haproxy_servers.line_options)
    cookie: str | None = None  # Ruby's automatic cookie value; None in `mode tcp` backends
    pinned: bool = False  # the node's own options hold `id N`: Ruby writes no automatic one

    @property
    def node_options(self) -> str:
        """The node's own haproxy_server_options."""
        return self.backend.haproxy_server_options or ""

    @property
    def state(self) -> str:
        """The administrative state HAProxy should hold: "ready" or "maint"."""
        return "maint" if in_maintenance(self.backend) else "ready"

    @property
    def line(self) -> str:
        """Everything after the address on the `server` line."""
        cookie = f"cookie {self.cookie}" if self.cookie is not None else ""
        disabled = "disabled" if self.state == "maint" else ""
        auto = "" if self.pinned else f"id {self.id}"
        return _join(auto, cookie, self.options, disabled)

    @property
    def structure(self) -> str:
        """What only a reload (or a new `add server`) can change: all but the address (a
        hostname's may change: `set server addr`), weight and state."""
        return structure_of(self.line.split())

    @property
    def weight(self) -> int:
        """The weight HAProxy ends up with for this line (the last `weight` keyword wins)."""
        tokens = self.options.split()
        values = [tokens[i + 1] for i, t in enumerate(tokens[:-1]) if t == "weight"]
        return int(values[-1]) if values and values[-1].isdigit() else DEFAULT_WEIGHT

    @property
    def hostport(self) -> str:
        """The address as a `server` line writes it."""
        return hostport(self.address, self.port)


_PINNED = re.compile(r"(?:^|\s)id\s+([0-9]+)(?:\s|$)")


def pinned_id(options: str | None) -> int | None:
    """The `id N` a node's own haproxy_server_options give (Ruby then writes no automatic id)."""
    match = _PINNED.search(options or "")
    return int(match.group(1)) if match else None


def in_maintenance(backend: Backend) -> bool:
    """A member the registry marks as in maintenance stays listed but takes no traffic."""
    return bool(getattr(backend, "maintenance", False))


def hostport(host: str, port: int) -> str:
    """`host:port`, with IPv6 addresses in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def structure_of(tokens: list[str]) -> str:
    """A server's options without `weight N` and `disabled`."""
    return _without_runtime(tokens)


def _without_runtime(tokens: list[str]) -> str:
    kept, i = [], 0
    while i < len(tokens):
        if tokens[i] == "weight" and i + 1 < len(tokens):
            i += 2
            continue
        if tokens[i] != "disabled":
            kept.append(tokens[i])
        i += 1
    return " ".join(kept)


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


class IdTable:
    """The stable server-name -> `id` assignment of one HAProxy backend."""

    def __init__(self, known: Mapping[str, int] | None = None):
        self._id_of: dict[str, int] = dict(known or {})

    def assign(
        self, names: Iterable[str], held: Iterable[str] = (), pinned: Mapping[str, int] = {}
    ) -> dict[str, int]:
        """Ids for `names` (in order: new ones take the lowest free ids in that order); the
        ids of `held` names (still in HAProxy) stay taken, those of the rest are freed; a
        `pinned` name (its node's options say `id N`) has that id, which no other takes."""
        wanted = list(dict.fromkeys(names))
        keep = set(wanted) | set(held)
        self._id_of = {n: i for n, i in self._id_of.items() if n in keep and n not in pinned}
        self._id_of |= {n: i for n, i in pinned.items() if n in keep}
        taken = set(self._id_of.values())
        free = 1
        for name in wanted:
            if name not in self._id_of:
                while free in taken:
                    free += 1
                self._id_of[name] = free
                taken.add(free)
        return {n: self._id_of[n] for n in wanted}
