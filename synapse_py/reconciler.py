"""The one consumer of watch events: waits for quiet, computes membership, drives the generators.

Events are handled as they arrive (a new child's read is sent at once); the batch closes when no
listing has changed for `wait_min` and a touched service is ready (its reads answered), or after
`wait_max`. A service in a flood (FLOOD_READS reads outstanding) does not count as a listing
change. Only services whose membership is known are handed to the generators: a service is
known once its first complete read succeeded, from the state file, or from its
`default_servers` (served, as in Ruby, until discovery finds backends); until then every
output keeps what it has. A service whose reads are
still in flight (a flood of new children) never holds back another service's change.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from . import state_file
from .backend import Backend
from .config import ServiceConfig, SynapseConfig
from .generators import Generator
from .membership import ExpiryGuard, ServiceMembers, desired_backends, served_defaults
from .registry_config import RegistryConfigs
from .watcher import (
    Arm,
    Children,
    Connected,
    NodeChanged,
    NodeData,
    ServiceData,
    ServiceWatcher,
    ZkClients,
)

log = logging.getLogger(__name__)

RETRY_INTERVAL = 2.0  # seconds before a failed apply (disk full, ...) is tried again
READ_RETRY_INTERVAL = 1.0  # seconds before reads that failed for connection reasons are resent
FLOOD_READS = 256  # a service with more reads outstanding is in a flood (see _is_listing_change)


@dataclass(frozen=True)
class Reconfigure:
    """Apply a new config (SIGHUP), with the generators to use from now on."""

    config: SynapseConfig
    generators: tuple[Generator, ...]


@dataclass(frozen=True)
class Stop:
    pass


_ZK_EVENT_KINDS = {
    Children: "children",
    Arm: "path_exists",
    Connected: "connected",
    NodeData: "node_data",
    NodeChanged: "node_changed",
}


class Reconciler:
    """Owns the watchers, the membership and the generators; everything runs on its thread."""

    def __init__(self, config: SynapseConfig, generators: Sequence[Generator], events: queue.Queue):
        self.events = events
        self.clients = ZkClients(config.zk_session_timeout, events, config.zk_security)
        self.config = config
        self.generators = tuple(generators)
        self.watchers: dict[str, ServiceWatcher] = {}
        self.members: dict[str, ServiceMembers] = {}
        self.children: dict[str, tuple[str, ...] | None] = {}
        self.membership: dict[str, tuple[Backend, ...]] = {}
        self.applies = 0
        self.apply_failures = 0  # generator or state-file writes that failed (retried)
        self.guards: dict[str, ExpiryGuard] = {}
        self.registry_configs = RegistryConfigs()  # services' znode data as haproxy config
        self._retry_at: float | None = None
        self._read_retry_at: float | None = None
        self._dirty: set[str] = set()  # services to recompute (kept until they were)
        self._read_once: set[str] = set()  # services whose first complete read is done
        self._reconfigured = False
        self.zk_events: Counter[str] = Counter()  # by kind (see _ZK_EVENT_KINDS)
        self.last_event_at: float | None = None
        # called with the seconds from the first event of a batch to the generators' change
        self.on_change: Callable[[float], None] = lambda seconds: None
        self.idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reconciler", daemon=True)

    def start(self, seed: Mapping[str, Sequence[Backend]] | None = None) -> None:
        """Apply the last known membership (state file) at once, then follow ZooKeeper."""
        for name, backends in (seed or {}).items():
            self.membership[name] = tuple(backends)
        self._configure(self.config)
        self._dirty.update(s.name for s in self.config.services)
        self._refresh()
        self._apply()
        self._thread.start()

    @property
    def alive(self) -> bool:
        """The reconciler thread runs (it survives a failed batch, so dead means stopped)."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 10) -> None:
        self.events.put(Stop())
        self._thread.join(timeout)
        for w in self.watchers.values():
            w.stop()
        self.clients.stop()

    # -- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                if not self._collect():
                    return
                self._flush()
            except Exception:  # noqa: BLE001 - never let one bad batch stop discovery
                log.exception("reconcile failed; retrying in %gs", RETRY_INTERVAL)
                self._retry_at = time.monotonic() + RETRY_INTERVAL

    def _collect(self) -> bool:
        """Handle events until a batch is due (see the module docstring); False on Stop."""
        self.idle.set()
        try:
            event = self.events.get(timeout=self._wake_in())
        except queue.Empty:
            event = None  # a hold ends or a retry is due: re-evaluate, no event needed
        self.idle.clear()
        start = time.monotonic()
        self.last_event_at = None if event is None else start  # a timer's wake is no change
        if event is None:
            return True
        deadline, last_listing = start + self.config.wait_max, start
        while True:
            if isinstance(event, Stop):
                return False
            if event is not None:
                self._handle_one(event)
                if self._is_listing_change(event):
                    last_listing = time.monotonic()
            now = time.monotonic()
            quiet_at = last_listing + self.config.wait_min
            if now >= deadline or (now >= quiet_at and self._batch_ready()):
                return True
            try:
                # once quiet, readiness changes only with the next event: block until it comes
                event = self.events.get(timeout=(quiet_at if now < quiet_at else deadline) - now)
            except queue.Empty:
                event = None

    def _is_listing_change(self, event) -> bool:
        """A join, leave or change that the quiet time waits for: a read's answer is not one,
        nor a listing of a service in a flood (FLOOD_READS reads outstanding), whose bursts must
        not hold back everyone else's changes."""
        if not isinstance(event, Children | NodeChanged) or event.service not in self.members:
            return False
        return len(self.members[event.service].inflight) < FLOOD_READS

    def _batch_ready(self) -> bool:
        """Something can be applied now: a new config, or a touched service that is ready."""
        if self._reconfigured or not self._dirty:
            return True
        return any(self._ready(self.config.service(name)) for name in self._dirty)

    def _flush(self) -> None:
        reconfigured, self._reconfigured = self._reconfigured, False
        self._resend_failed_reads()
        membership_changed = self._refresh()
        if reconfigured or membership_changed or self._retry_due():
            self._apply()
        if membership_changed and self.last_event_at is not None:
            self.on_change(time.monotonic() - self.last_event_at)

    def _handle_one(self, event) -> None:
        if type(event) in _ZK_EVENT_KINDS:
            self.zk_events[_ZK_EVENT_KINDS[type(event)]] += 1
        service: str = getattr(event, "service", "")
        if service and service not in self.watchers:
            return  # a service no longer watched (SIGHUP)
        if isinstance(event, Children):
            self.children[service] = event.names
            self._read(service, self.members[service].set_names(event.names or ()))
            self._dirty.add(service)
        elif isinstance(event, NodeData):
            self.members[service].result(event.name, event.data, event.error)
            self._dirty.add(service)
            if self.members[service].retry and self._read_retry_at is None:
                self._read_retry_at = time.monotonic() + READ_RETRY_INTERVAL
        elif isinstance(event, NodeChanged):
            if self.members[service].changed(event.name, event.kind):
                self._read(service, [event.name])
            self._dirty.add(service)
        elif isinstance(event, ServiceData):
            self._service_data(service, event.data)
        elif isinstance(event, Arm):
            self.watchers[service].arm()
        elif isinstance(event, Connected):
            for w in self.watchers.values():
                w.start()
                w.reconnected()
            self._resend_failed_reads(force=True)
        elif isinstance(event, Reconfigure):
            self.generators = event.generators
            self._configure(event.config)
            self.registry_configs.refresh(self.config.services, self._trusted)
            self._dirty.update(s.name for s in self.config.services)
            self._reconfigured = True

    def _service_data(self, service: str, data: bytes | None) -> None:
        if self.registry_configs.update(self.config.service(service), data, self._trusted):
            self._reconfigured = True  # the generators get the new section at the next batch

    @property
    def _trusted(self) -> bool:
        return bool(self.config.haproxy and self.config.haproxy.trust_registry_config)

    def _read(self, service: str, names: list[str]) -> None:
        if names:
            self.members[service].reading(names)
            self.watchers[service].read(names)

    def _resend_failed_reads(self, force: bool = False) -> None:
        """Resend reads that failed for connection reasons, and re-read children whose watch was
        lost, once due (`force`: a client just connected)."""
        if not force and (self._read_retry_at is None or time.monotonic() < self._read_retry_at):
            return
        self._read_retry_at = None
        for name, watcher in self.watchers.items():
            if watcher.client.connected:
                members = self.members[name]
                members.take_retries()
                self._read(name, members.wanted())
            elif self.members[name].retry:
                self._read_retry_at = time.monotonic() + READ_RETRY_INTERVAL

    # -- membership -------------------------------------------------------------------------

    def _refresh(self) -> bool:
        """Recompute the touched services that are ready, and those under a mass-expiry hold
        (whose outcome depends on the time); True if any changed. Unready ones stay touched."""
        changed = False
        for svc in self.config.services:
            guard = self.guards.get(svc.name)
            if svc.name not in self._dirty and (guard is None or guard.deadline is None):
                continue
            if not self._ready(svc):
                continue
            self._dirty.discard(svc.name)
            new = self._backends(svc)
            if new != self.membership.get(svc.name):
                _log_change(svc.name, self.membership.get(svc.name), new)
                self.membership[svc.name] = new
                changed = True
        return changed

    def _ready(self, svc: ServiceConfig) -> bool:
        """The service's discovery has answered enough to compute its membership."""
        if svc.discovery.method != "zookeeper":
            return True
        if svc.name not in self.children:
            return False  # never listed yet
        members = self.members[svc.name]
        if svc.name not in self._read_once:
            if not (members.complete and not members.retry):
                return False
            self._read_once.add(svc.name)
            return True
        return members.settled

    def _backends(self, svc: ServiceConfig) -> tuple[Backend, ...]:
        previous = self.membership.get(svc.name)
        zookeeper = svc.discovery.method == "zookeeper"
        discovered = self.members[svc.name].current() if zookeeper else ()
        guard = self.guards.get(svc.name)
        return desired_backends(svc, discovered, previous, guard, time.monotonic())

    def _apply(self) -> None:
        services = tuple(self.registry_configs.effective(s) for s in self.config.services)
        known = [s.name for s in services if s.name in self.membership]
        membership = {name: self.membership[name] for name in known}
        failed = False
        for gen in self.generators:
            try:
                gen.apply(services, membership)
            except OSError as e:  # disk full, read-only folder: keep the old files, retry
                failed = self._failed(f"generator {type(gen).__name__}: {e}")
            except Exception:  # noqa: BLE001 - one generator failing must not stop the others
                log.exception("generator %s failed; retrying", type(gen).__name__)
                failed = True
        self.applies += 1
        if not self._save_state(membership) or failed:
            self._retry_at = time.monotonic() + RETRY_INTERVAL
        else:
            self._retry_at = None

    def _failed(self, what: str) -> bool:
        self.apply_failures += 1
        log.error(
            "%s (%d failed writes so far); retrying in %gs",
            what,
            self.apply_failures,
            RETRY_INTERVAL,
        )
        return True

    def _retry_due(self) -> bool:
        return self._retry_at is not None and time.monotonic() >= self._retry_at

    def _wake_in(self) -> float | None:
        """Seconds until a mass-expiry hold ends or a failed apply is retried; None: no timer."""
        due = [g.deadline for g in self.guards.values() if g.deadline is not None]
        due += [t for t in (self._retry_at, self._read_retry_at) if t is not None]
        return max(0.05, min(due) - time.monotonic()) if due else None

    def _save_state(self, membership: Mapping[str, tuple[Backend, ...]]) -> bool:
        path = self.config.state_file_path
        if path:
            try:
                state_file.save(path, membership)
            except OSError as e:
                return not self._failed(f"cannot write state file {path}: {e}")
        return True

    # -- config -----------------------------------------------------------------------------

    def _configure(self, config: SynapseConfig) -> None:
        """Start watchers for new or changed services, stop those of removed ones."""
        self.config = config
        wanted = {s.name: s for s in config.services}
        for name in list(self.watchers):
            if wanted.get(name) != self.watchers[name].service:
                self._forget(name)
        for name, svc in wanted.items():
            if name not in self.members:
                self.members[name] = ServiceMembers(svc)
            if svc.discovery.method == "zookeeper" and name not in self.watchers:
                self._watch(svc)
        for name in set(self.membership) - set(wanted):
            del self.membership[name]
        for name, svc in wanted.items():  # Ruby serves them until discovery finds backends
            if name not in self.membership and svc.default_servers:
                self.membership[name] = served_defaults(svc)
        self._dirty &= set(wanted)
        self.guards = {n: self._guard(s) for n, s in wanted.items()}

    def _guard(self, svc: ServiceConfig) -> ExpiryGuard:
        """The service's guard, kept (with a hold in progress) while its config is unchanged."""
        guard = self.guards.get(svc.name)
        return guard if guard is not None and guard.service == svc else ExpiryGuard(svc)

    def _watch(self, svc: ServiceConfig) -> None:
        watcher = ServiceWatcher(svc, self.clients.get(svc.discovery.hosts), self.events)
        self.watchers[svc.name] = watcher
        watcher.start()

    def _forget(self, name: str) -> None:
        self.watchers.pop(name).stop()
        self.members.pop(name, None)
        self.children.pop(name, None)
        self.registry_configs.forget(name)
        self._read_once.discard(name)

    # -- figures ----------------------------------------------------------------------------

    @property
    def invalid_nodes(self) -> int:
        return sum(m.invalid for m in self.members.values())

    @property
    def zk_reads(self) -> int:
        return sum(m.reads for m in self.members.values())


def _log_change(service: str, old: tuple[Backend, ...] | None, new: tuple[Backend, ...]) -> None:
    before, after = {b.key for b in old or ()}, {b.key for b in new}
    added, removed = sorted(after - before), sorted(before - after)
    log.info(
        "%s: %d backend(s)%s%s",
        service,
        len(new),
        f"; joined {', '.join(added)}" if added else "",
        f"; left {', '.join(removed)}" if removed else "",
    )
