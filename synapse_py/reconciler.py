"""The one consumer of watch events: waits for quiet, computes membership, drives the generators."""

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
from .membership import ExpiryGuard, ServiceMembers, desired_backends
from .watcher import Arm, Children, Connected, ServiceWatcher, ZkClients

log = logging.getLogger(__name__)

RETRY_INTERVAL = 2.0  # seconds before a failed apply (disk full, ...) is tried again


@dataclass(frozen=True)
class Reconfigure:
    """Apply a new config (SIGHUP), with the generators to use from now on."""

    config: SynapseConfig
    generators: tuple[Generator, ...]


@dataclass(frozen=True)
class Stop:
    pass


_ZK_EVENT_KINDS = {Children: "children", Arm: "path_exists", Connected: "connected"}


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
        self._retry_at: float | None = None
        self.zk_events: Counter[str] = Counter()  # by kind (see _ZK_EVENT_KINDS)
        self.last_event_at: float | None = None
        # called with the seconds from the first event of a batch to the generators' change
        self.on_change: Callable[[float], None] = lambda seconds: None
        self.idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reconciler", daemon=True)

    def start(self, seed: Mapping[str, Sequence[Backend]] | None = None) -> None:
        """Apply the last known membership (state file) at once, then follow ZooKeeper."""
        for name, backends in (seed or {}).items():
            self.membership[name] = tuple(sorted(backends))
        self._configure(self.config)
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
            batch = self._next_batch()
            if any(isinstance(e, Stop) for e in batch):
                return
            try:
                self._handle(batch)
            except Exception:  # noqa: BLE001 - never let one bad batch stop discovery
                log.exception("reconcile failed; will retry on the next event")

    def _next_batch(self) -> list:
        """Block for an event, then keep draining until quiet for wait_min (at most wait_max)."""
        self.idle.set()
        try:
            batch = [self.events.get(timeout=self._wake_in())]
        except queue.Empty:
            batch = []  # a mass-expiry hold ends or a retry is due: re-evaluate, no event needed
        self.idle.clear()
        self.last_event_at = time.monotonic()
        if not batch:
            return batch
        deadline = self.last_event_at + self.config.wait_max
        while True:
            timeout = min(self.config.wait_min, deadline - time.monotonic())
            if timeout <= 0:
                return batch
            try:
                batch.append(self.events.get(timeout=timeout))
            except queue.Empty:
                return batch

    def _handle(self, batch: list) -> None:
        changed, dirty = False, set()
        for event in batch:
            if type(event) in _ZK_EVENT_KINDS:
                self.zk_events[_ZK_EVENT_KINDS[type(event)]] += 1
            if isinstance(event, Children):
                dirty.add(event.service)
            changed |= self._handle_one(event)
        if changed:  # a new config: every service may differ
            dirty.update(s.name for s in self.config.services)
        membership_changed = self._refresh(dirty)
        if changed or membership_changed or self._retry_due():
            self._apply()
        if membership_changed and batch:  # not a timer's re-evaluation
            self.on_change(time.monotonic() - self.last_event_at)

    def _handle_one(self, event) -> bool:
        if isinstance(event, Children) and event.service in self.watchers:
            self.children[event.service] = event.names
        elif isinstance(event, Arm) and event.service in self.watchers:
            self.watchers[event.service].arm()
        elif isinstance(event, Connected):
            for w in self.watchers.values():
                w.start()
        elif isinstance(event, Reconfigure):
            self.generators = event.generators
            self._configure(event.config)
            return True
        return False

    # -- membership -------------------------------------------------------------------------

    def _refresh(self, dirty: set[str]) -> bool:
        """Recompute the backends of the services in `dirty` and of those under a mass-expiry
        hold (whose outcome depends on the time); True if any changed."""
        changed = False
        for svc in self.config.services:
            guard = self.guards.get(svc.name)
            if svc.name not in dirty and (guard is None or guard.deadline is None):
                continue
            new = self._backends(svc)
            if new != self.membership.get(svc.name):
                _log_change(svc.name, self.membership.get(svc.name), new)
                self.membership[svc.name] = new
                changed = True
        return changed

    def _backends(self, svc: ServiceConfig) -> tuple[Backend, ...]:
        previous = self.membership.get(svc.name)
        names = self.children.get(svc.name)
        if names is None and svc.discovery.method == "zookeeper" and svc.name not in self.children:
            return previous if previous is not None else desired_backends(svc, (), None)
        client = self.watchers[svc.name].client if svc.name in self.watchers else None
        discovered = self.members[svc.name].backends(names or (), lambda p: client.get(p)[0])
        guard = self.guards.get(svc.name)
        return desired_backends(svc, discovered, previous, guard, time.monotonic())

    def _apply(self) -> None:
        services = self.config.services
        membership = {s.name: self.membership.get(s.name, ()) for s in services}
        failed = False
        for gen in self.generators:
            try:
                gen.apply(services, membership)
            except OSError as e:  # disk full, read-only folder: keep the old files, retry
                failed = self._failed(f"generator {type(gen).__name__}: {e}")
            except Exception:  # noqa: BLE001 - one generator failing must not stop the others
                log.exception("generator %s failed", type(gen).__name__)
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
        if self._retry_at is not None:
            due.append(self._retry_at)
        return max(0.05, min(due) - time.monotonic()) if due else None

    def _save_state(self, membership: Mapping[str, tuple[Backend, ...]]) -> bool:
        hap = self.config.haproxy
        if hap and hap.state_file_path:
            try:
                state_file.save(hap.state_file_path, membership)
            except OSError as e:
                return not self._failed(f"cannot write state file {hap.state_file_path}: {e}")
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
