"""Pre-allocated HAProxy server slots: which backend sits in which `server sK` line.

A backend keeps its slot for as long as it stays in the membership, so an unchanged server is never
touched. Free slots are rendered as disabled placeholders that the runtime API can later point at a
real address and enable. A table that runs out of slots doubles; one that a quarter or less of its
slots fill halves, down to MIN_SLOTS, and moves the servers above the new size into free slots
below it. Those are the only membership changes that alter structure, so they alone reload (rate
limited); the gap between the two thresholds keeps a steady membership from flapping.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
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
    service_options: str = ""
    backend: Backend | None = None
    address: str = PLACEHOLDER_HOST
    port: int = PLACEHOLDER_PORT

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
        weight = self.backend.weight
        return _join(
            f"weight {weight}" if weight is not None else "",
            self.service_options,
            self.node_options,
            "disabled" if self.state == "maint" else "",
        )

    @property
    def weight(self) -> int:
        """The weight HAProxy ends up with for this line (the last `weight` keyword wins)."""
        tokens = self.options.split()
        values = [tokens[i + 1] for i, t in enumerate(tokens[:-1]) if t == "weight"]
        return int(values[-1]) if values else DEFAULT_WEIGHT

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


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


class SlotTable:
    """The stable backend-key -> slot assignment of one HAProxy backend."""

    def __init__(self, minimum: int = MIN_SLOTS):
        self.minimum = self.size = minimum
        self._slot_of: dict[str, int] = {}

    def assign(self, backends: Sequence[Backend]) -> list[Backend | None]:
        """Place `backends` (unique keys): known ones keep their slot, new ones take free ones.

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
        for key in sorted(k for k in wanted if k not in self._slot_of):
            self._slot_of[key] = next(free)
        layout: list[Backend | None] = [None] * self.size
        for key, index in self._slot_of.items():
            layout[index] = wanted[key]
        return layout


def build_slots(
    layout: Sequence[Backend | None], service_options: str, addresses: Mapping[str, str]
) -> tuple[ServerSlot, ...]:
    """The server lines of one backend; `addresses` maps each backend host to its IP address."""
    return tuple(
        ServerSlot(f"s{i}", service_options)
        if b is None
        else ServerSlot(f"s{i}", service_options, b, addresses[b.host], b.port)
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
