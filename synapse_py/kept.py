"""Which backends in force are kept rather than live, and since when: for `synapse-py status`.

A backend is *kept* when it is served although discovery does not list it now:

- `state_file`: seeded from the state file at start, before discovery answered; since the
  file was saved (when it was last seen live, at the latest);
- `use_previous_backends`: discovery listed none (and there are no default servers); since
  that read (it was listed until then), or since it was kept already (a state file seed);
- `mass_expiry`: held by the mass-expiry guard; since the hold began.

The reconciler's thread records; the daemon's main loop reads `snapshot()` to publish it. The
common case (discovery lists what is served) costs O(1) per recomputed service.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .backend import Backend
from .config import ServiceConfig


@dataclass(frozen=True)
class Kept:
    """One kept backend: its address and name, why it is kept, since when (wall clock)."""

    host: str
    port: int
    name: str
    reason: str
    since: float

    @property
    def key(self) -> str:
        return f"{self.host}:{self.port}"


class KeptBackends:
    """Per service, the kept backends (see the module docstring); a lock guards the table."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[Kept, ...]] = {}
        # per service, the (discovered, served, hold_began) last seen: a recompute during a
        # hold that changed nothing costs no pass over the backends
        self._seen: dict[str, tuple] = {}
        self.version = 0  # bumped on every change, so a reader rewrites only then

    def seeded(self, membership: Mapping[str, Sequence[Backend]], saved_at: float) -> None:
        """The state file's membership was put in force; it was saved at `saved_at`."""
        for name, backends in membership.items():
            self._set(name, _kept(backends, "state_file", lambda b: saved_at))

    def update(
        self,
        service: ServiceConfig,
        discovered: tuple[Backend, ...],
        served: tuple[Backend, ...],
        hold_began: float | None,
    ) -> None:
        """`served` is in force for `service` while discovery lists `discovered`;
        `hold_began`: when a mass-expiry hold in progress began (wall clock), else None."""
        last = self._seen.get(service.name)
        if last and last[0] is discovered and last[1] is served and last[2] == hold_began:
            return
        self._seen[service.name] = (discovered, served, hold_began)
        now = time.time()
        if hold_began is not None:
            listed = {b.key for b in discovered} | _default_keys(service)
            held = (b for b in served if b.key not in listed)
            self._set(service.name, _kept(held, "mass_expiry", lambda b: hold_began))
        elif discovered or not served or service.default_servers:
            self._set(service.name, ())
        else:  # listed until this read: kept from now on, or since it was kept already
            before = {k.key: k.since for k in self._kept.get(service.name, ())}
            since = lambda b: before.get(b.key, now)  # noqa: E731 - one line, read once
            self._set(service.name, _kept(served, "use_previous_backends", since))

    def retain(self, names: Iterable[str]) -> None:
        """Forget the services not in `names` (removed by a reload)."""
        wanted = set(names)
        for name in [n for n in self._kept if n not in wanted]:
            self._set(name, ())
            self._seen.pop(name, None)

    def snapshot(self) -> tuple[int, dict[str, tuple[Kept, ...]]]:
        """The version and the services that have kept backends."""
        with self._lock:
            return self.version, {n: k for n, k in self._kept.items() if k}

    def _set(self, name: str, kept: tuple[Kept, ...]) -> None:
        if self._kept.get(name, ()) == kept:
            return
        with self._lock:
            self._kept[name] = kept
            self.version += 1


def _kept(backends: Iterable[Backend], reason: str, since) -> tuple[Kept, ...]:
    return tuple(Kept(b.host, b.port, b.name, reason, since(b)) for b in backends)


def _default_keys(service: ServiceConfig) -> set[str]:
    """The default servers' addresses, as configured and with the port override."""
    keys = {b.key for b in service.default_servers}
    if service.port_override is not None:
        keys |= {b.with_port(service.port_override).key for b in service.default_servers}
    return keys
