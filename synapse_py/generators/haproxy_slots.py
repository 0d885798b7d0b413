"""Pre-allocated HAProxy server slots: which backend sits in which `server sK` line.

A backend keeps its slot for as long as it stays in the membership, so an unchanged server is never
touched. Free slots are rendered as disabled placeholders that the runtime API can later point at a
real address and enable. A table that runs out of slots doubles; one that a quarter or less of its
slots fill halves, down to MIN_SLOTS, and moves the servers above the new size into free slots
below it; the gap between the two thresholds keeps a steady membership from flapping. A slot's
structure is its options but `weight N` and `disabled` (the runtime API sets those): a join or a
leave changes structure, and so reloads (rate limited), only when the table grows or shrinks, or
where a server's options differ from a free slot's (a node's haproxy_server_options, a cookie,
`%{...}` in server_options).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from ..backend import Backend
from ..proxy.haproxy_socket import ServerStateRow

MIN_SLOTS = 8
PLACEHOLDER_HOST = "127.0.0.1"  # a free slot points here, in maintenance: never sent traffic
PLACEHOLDER_PORT = 1
DEFAULT_WEIGHT = 1  # HAProxy's default server weight


@dataclass(frozen=True)
class ServerSlot:
    """What one `server` line of a backend holds: a backend at a resolved address, or nothing."""

    name: str
    service_options: str = ""  # what the slot writes when free (the service's server_options)
    backend: Backend | None = None
    address: str = PLACEHOLDER_HOST
    port: int = PLACEHOLDER_PORT
    server_options: str = ""  # what an occupied slot writes: Ruby's options (haproxy_servers)

    @property
    def node_options(self) -> str:
        """The node's own haproxy_server_options: structure (not settable at runtime)."""
        return (self.backend.haproxy_server_options or "") if self.backend else ""

    @property
    def state(self) -> str:
        """The administrative state HAProxy should hold: "ready" or "maint"."""
        return "ready" if self.backend and not in_maintenance(self.backend) else "maint"

    @property
    def options(self) -> str:
        """Everything after the address on the `server` line."""
        if self.backend is None:
            return _join(self.service_options, "disabled")
        return _join(self.server_options, "disabled" if self.state == "maint" else "")

    @property
    def structure(self) -> str:
        """The options only a reload can change: all but `weight N` and `disabled`."""
        return _without_runtime(self.options.split())

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


def in_maintenance(backend: Backend) -> bool:
    """A member the registry marks as in maintenance keeps its slot but takes no traffic."""
    return bool(getattr(backend, "maintenance", False))


def hostport(host: str, port: int) -> str:
    """`host:port`, with IPv6 addresses in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


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


class SlotTable:
    """The stable backend-key -> slot assignment of one HAProxy backend."""

    def __init__(self, minimum: int = MIN_SLOTS):
        self.minimum = self.size = minimum
        self._slot_of: dict[str, int] = {}

    def assign(self, backends: Sequence[Backend]) -> list[Backend | None]:
        """Place `backends` (unique keys): known ones keep their slot, new ones take the free
        ones in the order of `backends` (so a first render writes them in `backend_order`).

        After a shrink, the ones whose slot is gone take free ones too.
        """
        wanted = {b.key: b for b in backends}
        self._slot_of = {k: i for k, i in self._slot_of.items() if k in wanted}
        while len(wanted) > self.size:
            self.size *= 2
        while self.size > self.minimum and len(wanted) <= self.size // 4:
            self.size //= 2
        self._slot_of = {k: i for k, i in self._slot_of.items() if i < self.size}
        free = iter(sorted(set(range(self.size)) - set(self._slot_of.values())))
        for key in [k for k in wanted if k not in self._slot_of]:  # in the order given
            self._slot_of[key] = next(free)
        layout: list[Backend | None] = [None] * self.size
        for key, index in self._slot_of.items():
            layout[index] = wanted[key]
        return layout


def build_slots(
    layout: Sequence[Backend | None],
    free_options: Callable[[str], str],
    addresses: Mapping[str, str],
    options_for: Callable[[Backend], str],
) -> tuple[ServerSlot, ...]:
    """The server lines of one backend; `addresses` maps each backend host to its IP address,
    `free_options(slot_name)` gives a free slot's options, `options_for` a backend's."""
    return tuple(
        ServerSlot(f"s{i}", free_options(f"s{i}"))
        if b is None
        else ServerSlot(
            f"s{i}", free_options(f"s{i}"), b, addresses[b.host], b.port, options_for(b)
        )
        for i, b in enumerate(layout, start=1)
    )


def runtime_commands(slot: ServerSlot, live: ServerStateRow) -> Iterator[tuple[str, tuple]]:
    """The runtime API calls (method name, arguments) that turn `live` into `slot`, in a safe order.

    Maintenance goes first and readiness last: a server never takes traffic at a half-set address.
    """
    if slot.state == "maint" and live.state != "maint":
        yield "set_server_state", ("maint",)
    if not _same_address(live, slot):
        yield "set_server_addr", (slot.address, slot.port)
    if slot.backend is not None and live.weight != slot.weight:
        yield "set_server_weight", (slot.weight,)
    if slot.state == "ready" and live.state != "ready":
        yield "set_server_state", ("ready",)


def _same_address(live: ServerStateRow, slot: ServerSlot) -> bool:
    try:
        same_ip = ipaddress.ip_address(live.addr) == ipaddress.ip_address(slot.address)
    except ValueError:
        same_ip = False
    return same_ip and live.port == slot.port
