"""The one consumer of watch events: waits for quiet, computes membership, drives the generators.

Each service has one discovery (synapse_py.discovery, built by its method's name); every event
goes to the discovery of its service (or to all, without a service) as it arrives, which says
what it touched. The batch closes when no listing has changed (Touched.LISTING) for `wait_min`
and a touched service is ready, or after `wait_max`. Only services whose membership is known are
handed to the generators: a service is known once its discovery is first ready, from the state
file, or from its `default_servers` (served, as in Ruby, until discovery finds backends); until
then every output keeps what it has. A service whose discovery is not ready (a flood of new
children being read) never holds back another service's change, except at start: the first apply
after the state file's (or the default servers') waits until every service's discovery has been
ready once, or `wait_startup` has passed (then it applies what it has and logs who is missing),
so that a proxy starts once with the full membership instead of being re-applied service by
service as a thousand first listings trickle in.
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
from .desired import ExpiryGuard, desired_backends, served_defaults
from .discovery import Discovery, DiscoveryContext, ServiceData, Touched, methods
from .generators import Generator
from .kept import KeptBackends
from .registry_config import RegistryConfigs

log = logging.getLogger(__name__)

RETRY_INTERVAL = 2.0  # seconds before a failed apply (disk full, ...) is tried again
MISSING_LOGGED = 10  # services named when the startup hold ends without them


@dataclass(frozen=True)
class Reconfigure:
    """Apply a new config (SIGHUP), with the generators to use from now on."""

    config: SynapseConfig
    generators: tuple[Generator, ...]


@dataclass(frozen=True)
class Stop:
    pass


class Reconciler:
    """Owns the discoveries, the membership and the generators; everything runs on its thread."""

    def __init__(self, config: SynapseConfig, generators: Sequence[Generator], events: queue.Queue):
        self.events = events
        self.context = DiscoveryContext(config, events)
        self.config = config
        self.generators = tuple(generators)
        self.discoveries: dict[str, Discovery] = {}
        self.membership: dict[str, tuple[Backend, ...]] = {}
        self.applies = 0
        self.last_applied_at = 0.0  # wall-clock time of the last apply every generator took
        self._apply_failures = 0  # generator writes that failed (retried)
        self.guards: dict[str, ExpiryGuard] = {}
        self.kept = KeptBackends()  # served but not listed now, for `synapse-py status`
        self.registry_configs = RegistryConfigs()  # services' znode data as haproxy config
        self._retry_at: float | None = None
        self._state: state_file.StateWriter | None = None  # writes the state file
        self._dirty: set[str] = set()  # services to recompute (kept until they were)
        self._dirty_ready = False  # one of them is ready (see _batch_ready)
        self._reconfigured = False
        self._startup_until: float | None = None  # the startup hold (see the docstring) ends
        self._unreported: set[str] = set()  # ... or when these have been ready once
        self._held = False  # ... and an apply is due then
        self.discovery_events: Counter[str] = Counter()  # by the events' `figure`, if they have one
        self.last_event_at: float | None = None
        # called with the seconds from the first event of a batch to the generators' change
        self.on_change: Callable[[float], None] = lambda seconds: None
        self.idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reconciler", daemon=True)

    def start(
        self, seed: Mapping[str, Sequence[Backend]] | None = None, seed_saved_at: float = 0.0
    ) -> None:
        """Apply the last known membership (state file, saved at `seed_saved_at`) at once, then
        follow discovery."""
        for name, backends in (seed or {}).items():
            self.membership[name] = tuple(backends)
        self.kept.seeded(seed or {}, seed_saved_at or time.time())
        self._configure(self.config)
        self._dirty.update(s.name for s in self.config.services)
        self._refresh()
        self._apply()
        if self.config.wait_startup > 0:
            self._startup_until = time.monotonic() + self.config.wait_startup
            self._unreported = set(self.discoveries)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """The reconciler thread runs (it survives a failed batch, so dead means stopped)."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 10) -> None:
        self.events.put(Stop())
        self._thread.join(timeout)
        if self._state is not None:
            self._state.stop()
        for d in self.discoveries.values():
            d.stop()
        self.context.stop()

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
            if event is not None and self._handle_one(event) == Touched.LISTING:
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

    def _batch_ready(self) -> bool:
        """Something can be applied now: a new config, or a touched service that is ready.

        Readiness changes only when a service's discovery handles an event, so it is noted
        there (`_note_ready`): a flood of reads into a thousand services costs O(1) per event.
        """
        return self._reconfigured or not self._dirty or self._dirty_ready

    def _note_ready(self, service: str) -> None:
        if not self._dirty_ready and service in self._dirty:
            self._dirty_ready = self.discoveries[service].ready()

    def _flush(self) -> None:
        reconfigured, self._reconfigured = self._reconfigured, False
        membership_changed = self._refresh()
        if self._startup_until is not None:
            self._held = self._held or reconfigured or membership_changed
            if not self._startup_over():
                return
            reconfigured, self._held = reconfigured or self._held, False
        if reconfigured or membership_changed or self._retry_due():
            self._apply()
        if membership_changed and self.last_event_at is not None:
            self.on_change(time.monotonic() - self.last_event_at)

    def _startup_over(self) -> bool:
        """The startup hold ends now: every service's discovery has been ready once, or the
        time is up (logged, with the services still missing)."""
        self._unreported = {
            n for n in self._unreported if n in self.discoveries and not self.discoveries[n].ready()
        }
        assert self._startup_until is not None
        if self._unreported and time.monotonic() < self._startup_until:
            return False
        if self._unreported:
            missing = sorted(self._unreported)
            log.warning(
                "no first membership from %d service(s) after %gs: applying the others (%s%s)",
                len(missing),
                self.config.wait_startup,
                ", ".join(missing[:MISSING_LOGGED]),
                ", ..." if len(missing) > MISSING_LOGGED else "",
            )
        self._startup_until, self._unreported = None, set()
        return True

    def _handle_one(self, event) -> Touched:
        figure = getattr(event, "figure", None)
        if figure:
            self.discovery_events[figure] += 1
        if isinstance(event, Reconfigure):
            self._reconfigure(event)
            return Touched.NOTHING
        service: str | None = getattr(event, "service", None)
        if service is None:  # for every discovery (a ZooKeeper client connected, ...)
            each = [self._touch(n, d.handle(event)) for n, d in self.discoveries.items()]
            for name in self.discoveries:
                self._note_ready(name)
            return max(each, default=Touched.NOTHING)
        if service not in self.discoveries:
            return Touched.NOTHING  # a service no longer discovered (SIGHUP)
        if isinstance(event, ServiceData):
            self._service_data(service, event.data)
            return Touched.NOTHING
        touched = self._touch(service, self.discoveries[service].handle(event))
        self._note_ready(service)
        return touched

    def _touch(self, service: str, touched: Touched) -> Touched:
        if touched:
            self._dirty.add(service)
        return touched

    def _reconfigure(self, event: Reconfigure) -> None:
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

    # -- membership -------------------------------------------------------------------------

    def _refresh(self) -> bool:
        """Recompute the touched services that are ready, and those under a mass-expiry hold
        (whose outcome depends on the time); True if any changed. Unready ones stay touched."""
        changed = False
        self._dirty_ready = False  # those left dirty below are not ready
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
        return self.discoveries[svc.name].ready()

    def _backends(self, svc: ServiceConfig) -> tuple[Backend, ...]:
        previous = self.membership.get(svc.name)
        discovered = self.discoveries[svc.name].backends()
        guard = self.guards.get(svc.name)
        now = time.monotonic()
        new = desired_backends(svc, discovered, previous, guard, now)
        began = None if guard is None or guard.since is None else time.time() - (now - guard.since)
        self.kept.update(svc, discovered, new, began)
        return new

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
        if not failed:
            self.last_applied_at = time.time()
        self._save_state(membership)
        self._retry_at = time.monotonic() + RETRY_INTERVAL if failed else None

    @property
    def apply_failures(self) -> int:
        """Generator and state-file writes that failed (each is retried)."""
        return self._apply_failures + (self._state.failures if self._state else 0)

    def _failed(self, what: str) -> bool:
        self._apply_failures += 1
        log.error(
            "%s (%d failed writes so far); retrying in %gs",
            what,
            self._apply_failures,
            RETRY_INTERVAL,
        )
        return True

    def _retry_due(self) -> bool:
        return self._retry_at is not None and time.monotonic() >= self._retry_at

    def _wake_in(self) -> float | None:
        """Seconds until a mass-expiry hold or the startup hold ends, or a failed apply is
        retried; None: no timer."""
        due = [g.deadline for g in self.guards.values() if g.deadline is not None]
        due += [t for t in (self._retry_at, self._startup_until) if t is not None]
        return max(0.05, min(due) - time.monotonic()) if due else None

    def _save_state(self, membership: Mapping[str, tuple[Backend, ...]]) -> None:
        """Hand the membership to the state file's writer (its own thread retries failures)."""
        path = self.config.state_file_path
        if self._state is not None and self._state.path != path:
            self._state.stop()
            self._state = None
        if path and self._state is None:
            self._state = state_file.StateWriter(path, RETRY_INTERVAL)
        if self._state is not None:
            self._state.submit(membership)

    def flush_state(self, timeout: float) -> bool:
        """Wait until the last membership is in the state file (tests, `stop`)."""
        return self._state.flush(timeout) if self._state is not None else True

    # -- config -----------------------------------------------------------------------------

    def _configure(self, config: SynapseConfig) -> None:
        """Start discoveries for new or changed services, stop those of removed ones."""
        self.config = config
        self.context.config = config
        wanted = {s.name: s for s in config.services}
        for name in list(self.discoveries):
            if wanted.get(name) != self.discoveries[name].service:
                self._forget(name)
        for name, svc in wanted.items():
            if name not in self.discoveries:
                self._discover(svc)
        for name in set(self.membership) - set(wanted):
            del self.membership[name]
        for name, svc in wanted.items():  # Ruby serves them until discovery finds backends
            if name not in self.membership and svc.default_servers:
                self.membership[name] = served_defaults(svc)
        self._dirty &= set(wanted)
        self.guards = {n: self._guard(s) for n, s in wanted.items()}
        self.kept.retain(wanted)

    def _guard(self, svc: ServiceConfig) -> ExpiryGuard:
        """The service's guard, kept (with a hold in progress) while its config is unchanged."""
        guard = self.guards.get(svc.name)
        return guard if guard is not None and guard.service == svc else ExpiryGuard(svc)

    def _discover(self, svc: ServiceConfig) -> None:
        discovery = methods()[svc.discovery.method](svc, self.context)
        self.discoveries[svc.name] = discovery
        discovery.start()

    def _forget(self, name: str) -> None:
        self.discoveries.pop(name).stop()
        self.registry_configs.forget(name)


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
