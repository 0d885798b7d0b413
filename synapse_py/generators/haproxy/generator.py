"""The HAProxy generator: each member a named server, added and removed by runtime API where it can.

Each apply renders haproxy.cfg from the whole desired state (exactly the live servers, so a
reload reproduces what the runtime API set) and, in backends whose structure the running HAProxy
already has, adds, changes and drains servers over the admin socket (haproxy_runtime). A change
of structure (a service, an option, a join in a backend HAProxy cannot add servers to: see
haproxy_config.runtime_refusal) or an unreachable socket installs the validated file and
requests a reload. At start, HAProxy already running the installed file's structure is adopted
as it is: a restart of synapse-py with the same membership reloads nothing.

Hostnames from the registry are resolved here, bounded by `resolve_timeout`, and rendered as IP
addresses: `set server addr` takes only addresses in 2.6 without `resolvers`, and the file must
match what the runtime API set. A host that has never resolved is skipped (logged, `unresolved`);
one that stops resolving keeps its last address; a background refresh that changes an address
calls `wake()` (default: apply the last membership again).

A monitor thread asks HAProxy `show info` every second. When HAProxy stops answering (killed, or
its socket file deleted) it is said once and HAProxy is started again through `reload_command`;
meanwhile changes only install the file (no reload, no wait). A deleted socket is not re-created
by a seamless reload (the new worker inherits the listening socket, unlinked), so the file then
spells the socket path the other way (`dir/./name` or `dir/name`), which makes HAProxy bind a
fresh one. A worker that synapse-py did not start (someone else reloaded or restarted HAProxy) is
assumed to run the installed file: the membership is applied again, by runtime API where the
structure allows, by a reload where a backend is missing.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import random
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartstack_common.atomic import write_atomic

from ...backend import Backend
from ...config import HaproxyConfig, ServiceConfig, SynapseConfig
from ...desired import served_defaults
from ...proxy.haproxy_monitor import HaproxyMonitor
from ...proxy.haproxy_socket import HaproxySocket, HaproxySocketError, SocketUnavailable
from ...proxy.reloader import Reloader
from ...render import render_haproxy
from .. import register
from ..base import GeneratorBase, Location
from ..resolve import HostResolver
from .config import (
    ConfigRejected,
    ServicePlan,
    build_context,
    runtime_refusal,
    server_options,
    signature,
    validate_candidate,
    validate_text,
)
from .installer import BackgroundInstaller
from .members import IdTable, Server, pinned_id
from .readback import (
    MembershipUnknown,
    adopted,
    installed_servers,
    live_ids,
    live_members,
    read_installed,
    skeleton,
)
from .runtime import Drainer, converge
from .screen import NodeScreen
from .servers import ordered, server_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """One desired state: the services with their servers, its structure, and the rendered file."""

    services: tuple[ServicePlan, ...]
    structure: dict[str, Any]
    text: str


@register("haproxy")
class HaproxyGenerator(GeneratorBase):
    """Keeps one HAProxy in step with the desired membership (see the module docstring)."""

    name = "haproxy"

    @classmethod
    def section(cls, config: SynapseConfig) -> HaproxyConfig | None:
        return config.haproxy

    @classmethod
    def preflight(cls, section: HaproxyConfig) -> list[str]:
        if section.do_writes and section.config_file_path:
            folder = Path(section.config_file_path).parent
            if not folder.is_dir():
                return [f"haproxy.config_file_path: folder {folder} does not exist"]
        return []

    @classmethod
    def owned(cls, section: HaproxyConfig) -> list[Location]:
        path = section.config_file_path
        return [(str(Path(path).parent), Path(path).name)] if path else []

    def __init__(
        self,
        config: HaproxyConfig,
        haproxy_bin: str | None = None,
        resolve_timeout: float = 2.0,
        settle_timeout: float = 10.0,
        lookup: Callable[[str], str] | None = None,
        wake: Callable[[], None] | None = None,
    ):
        """`lookup(host)` resolves a hostname (tests); `wake()` is called when a background
        re-resolve changed an address (default: apply the last membership again)."""
        self.config = config
        seed = config.server_order_seed
        self._seed = random.randrange(2000) if seed is None else seed  # as Ruby's default
        self.haproxy_bin = haproxy_bin or shutil.which("haproxy") or "/usr/sbin/haproxy"
        self.settle_timeout = settle_timeout
        self.runtime_commands = 0
        self.renders = 0
        self.installs = 0
        self.failed_validations = 0
        self.failed_writes = 0
        self._lock = threading.RLock()
        self._ids: dict[str, IdTable] = {}
        self._known: dict[str, dict[str, str]] = {}  # per backend: what HAProxy runs, by server
        self._resolver = HostResolver(
            resolve_timeout, lookup=lookup, on_change=wake or self._reapply
        )
        self._socket = _socket_for(config)
        self._drainer = (
            Drainer(self._socket, self._lock, config.drain_timeout) if self._socket else None
        )
        self._stopping = threading.Event()
        self._last: tuple | None = None  # the last apply's arguments, to apply them again
        self._reloading: Plan | None = None  # the file a running reload loads
        self._new_pid: str | None = None
        self._reloader = self._make_reloader()
        self._installed: Plan | None = None  # the file on disk
        self._installed_seq = 0  # the apply that produced it
        self._seq = 0
        self._install_lock = threading.Lock()
        self._installer = BackgroundInstaller(self._install)
        self._rejected = ""  # the last text validation refused: not checked again
        self._accepted = ""  # the last text the node screen validated: not checked twice
        self._screen = NodeScreen(self._render, self._validate_text)
        self._live: Plan | None = None  # what the running HAProxy holds
        self._worker_pid: str | None = None
        self._members: dict[str, Sequence[Backend]] = {}  # last membership applied, per service
        self._waiting: set[str] = set()  # services not discovered yet, already logged
        self._monitor = self._make_monitor()

    @property
    def reloads(self) -> int:
        """Reload commands run (the first one usually starts HAProxy)."""
        return self._reloader.reloads if self._reloader else 0

    def rejected_nodes(self) -> dict[str, int]:
        """Per service: nodes skipped because HAProxy refuses their server options in context."""
        return dict(self._screen.rejected_nodes)

    @property
    def unresolved(self) -> int:
        """Hostname lookups that failed (once per host and outage)."""
        return self._resolver.failures

    def apply(
        self, services: Sequence[ServiceConfig], membership: Mapping[str, Sequence[Backend]]
    ) -> None:
        """Make HAProxy route each enabled service to exactly `membership[service.name]`.

        A service missing from `membership` (not discovered yet) keeps the backends it had, those
        the running HAProxy serves (read back over the socket) or its `default_servers`; with none
        of these, nothing is touched until it is known. When the runtime API applied everything,
        haproxy.cfg is installed in the background (retried there on a failed write). Otherwise it
        is installed here, and OSError is raised when it cannot be written (disk full): the old
        file stays, nothing is reloaded, and the reconciler retries.
        """
        with self._lock:
            self._last = (services, membership)
            try:
                plan = self._plan(services, membership, screen=True)
            except MembershipUnknown as unknown:
                if str(unknown) not in self._waiting:  # said once per service
                    self._waiting.add(str(unknown))
                    log.info(
                        "haproxy: %s not discovered yet; haproxy.cfg and HAProxy untouched until "
                        "every service is",
                        unknown,
                    )
                return
            self._resolver.retain(b.host for members in self._members.values() for b in members)
            self._adopt(plan)
            complete, socket_down = self._converge(plan)
            self._seq += 1
            if complete:  # HAProxy runs this already: the file catches up in the background
                self._live = plan
                self._installer.submit((self._seq, plan))
                return
            self._installer.cancel()
            if not self._install((self._seq, plan)):
                return
            if self._monitor and self._monitor.down:  # it restarts HAProxy with this file
                return
            if socket_down or self._live is None or self._live.text != plan.text:
                self._request_reload()

    def render(
        self, services: Sequence[ServiceConfig], membership: Mapping[str, Sequence[Backend]]
    ) -> str:
        """The haproxy.cfg `apply` would install, without touching HAProxy or the disk."""
        with self._lock:
            return self._plan(services, membership).text

    def flush(self, timeout: float) -> bool:
        """Wait for the file to be installed and a deferred reload to run; False on timeout."""
        installed = self._installer.flush(timeout)
        return installed and (self._reloader.flush(timeout) if self._reloader else True)

    def stop(self) -> None:
        """Install the pending file, drop a deferred reload; HAProxy keeps running."""
        self._stopping.set()
        if self._monitor:
            self._monitor.stop()
        self._installer.stop()
        if self._reloader:
            self._reloader.stop()
        if self._drainer:
            self._drainer.stop()
        self._resolver.close()

    def _plan(
        self, services: Sequence[ServiceConfig], membership: Mapping, screen: bool = False
    ) -> Plan:
        """The desired state; with `screen`, nodes HAProxy refuses in context are left out."""
        enabled = [s for s in services if not s.haproxy.disabled]
        self._ids = {s.backend_name: self._id_table(s.backend_name) for s in enabled}
        self._members = {s.name: self._members_of(s, membership) for s in enabled}
        self._screen.retain((s, self._members[s.name]) for s in enabled)
        planned = tuple((s, self._servers(s, self._members[s.name])) for s in enabled)
        if screen and self._validates() and self._screen.screen(planned):
            planned = tuple((s, self._servers(s, self._members[s.name])) for s in enabled)
        text = self._render(planned)
        return Plan(planned, signature(self.config, planned), text)

    def _render(self, planned: Sequence[ServicePlan]) -> str:
        self.renders += 1
        return render_haproxy(build_context(self.config, planned))

    def _members_of(self, svc: ServiceConfig, membership: Mapping) -> Sequence[Backend]:
        """The service's backends; one not discovered yet keeps what it had, what the running
        HAProxy serves, or its default_servers, else nothing is touched (MembershipUnknown)."""
        if svc.name in membership:
            return membership[svc.name]
        if svc.name in self._members:
            return self._members[svc.name]
        live = live_members(self._socket, svc.backend_name)
        if live is not None:
            log.info(
                "%s: not discovered yet; keeping the %d servers HAProxy runs", svc.name, len(live)
            )
            return live
        if svc.default_servers:
            return served_defaults(svc)
        raise MembershipUnknown(svc.name)

    def _id_table(self, backend: str) -> IdTable:
        """The backend's ids; a new one starts from the running HAProxy's, else the file's."""
        if backend in self._ids:
            return self._ids[backend]
        lines = installed_servers(read_installed(self.config.config_file_path)).get(backend, {})
        known = {name: s.id for name, s in lines.items() if s.id}
        return IdTable({**known, **live_ids(self._socket, backend)})

    def _servers(self, svc: ServiceConfig, backends: Sequence[Backend]) -> tuple[Server, ...]:
        addresses = self._resolver.resolve_all({b.host for b in backends})
        usable: dict[str, tuple[Backend, str]] = {}  # key -> (backend, its address)
        for b in backends:  # one per host:port (membership already is; a read-back may not be)
            address = addresses.get(b.host)
            if address and not self._screen.refused(svc, b):
                usable.setdefault(b.key, (b, address))
        held = self._known.get(svc.backend_name, {})  # in HAProxy still: their ids are taken
        names = {key: server_name(b) for key, (b, _) in usable.items()}
        pinned: dict[str, int] = {}
        for key, (b, _) in usable.items():
            pin = pinned_id(b.haproxy_server_options)
            if pin is not None:
                pinned[names[key]] = pin
        ids = self._ids[svc.backend_name].assign(names.values(), held, pinned)
        options = server_options(self.config, svc)
        servers = {
            key: Server(
                names[key], ids[names[key]], b, address, b.port, *options(b), names[key] in pinned
            )
            for key, (b, address) in usable.items()
        }
        refusal = runtime_refusal(self.config, svc)
        if refusal:
            _say_reload_path(svc.backend_name, refusal)
        order = ordered([b for b, _ in usable.values()], svc.haproxy.backend_order, self._seed)
        return tuple(servers[b.key] for b in order)

    def _converge(self, plan: Plan) -> tuple[bool, bool]:
        """Runtime-apply each backend the live HAProxy has unchanged: (all done?, socket down?)."""
        if self._socket is None or self._live is None or (self._monitor and self._monitor.down):
            return False, False
        live = self._live.structure
        try:
            same = [
                self._converge_backend(svc, servers)
                for svc, servers in plan.services
                if live.get(svc.backend_name) == plan.structure[svc.backend_name]
            ]
        except SocketUnavailable as exc:
            log.warning("admin socket unavailable, falling back to a reload: %s", exc)
            if self._monitor:
                self._monitor.lost(str(exc))
            return False, True
        except HaproxySocketError as exc:
            log.warning("runtime API refused a change, falling back to a reload: %s", exc)
            return False, False
        return all(same) and len(same) == len(plan.services) and live == plan.structure, False

    def _converge_backend(self, svc: ServiceConfig, servers: Sequence[Server]) -> bool:
        """Bring one backend's live servers to `servers`; False if only a reload can."""
        backend = svc.backend_name
        refusal = runtime_refusal(self.config, svc)
        known = self._known.setdefault(backend, {})
        assert self._socket is not None and self._drainer is not None  # _converge checked
        sent = converge(self._socket, backend, servers, known, self._drainer, not refusal)
        self.runtime_commands += sent or 0
        return sent is not None

    def _adopt(self, plan: Plan) -> None:
        """At start, take a running HAProxy as running the installed file, which synapse-py
        wrote to match the runtime state: backends whose servers differ converge by runtime
        API where they can, the rest reload."""
        if self._installed is not None or self._live is not None or self._socket is None:
            return  # only at start, before synapse-py installed or reloaded anything
        text = read_installed(self.config.config_file_path)
        if not text or skeleton(text) != skeleton(plan.text) or self._current_pid() is None:
            return
        structure, self._known = adopted(text, plan.services, plan.structure)
        self._live = Plan(plan.services, structure, text)
        log.info("haproxy: adopting the running HAProxy, which runs the installed haproxy.cfg")

    def _learn(self, plan: Plan | None) -> None:
        """HAProxy (re)loaded `plan`: its servers are exactly the planned ones."""
        if plan is None:
            return
        self._known = {
            svc.backend_name: {s.name: s.structure for s in servers}
            for svc, servers in plan.services
        }

    def _install(self, numbered: tuple[int, Plan]) -> bool:
        """Validate and install the file (unless do_writes is off); False if it was refused.

        Runs on the reconciler's thread or the installer's; a plan older than the installed one
        is skipped, so the file never goes back in time.
        """
        seq, plan = numbered
        with self._install_lock:
            if seq < self._installed_seq:
                return True
            if self._installed and self._installed.text == plan.text:
                return True
            if plan.text == self._rejected or not self._write(plan.text):
                return False
            self._installed, self._installed_seq = plan, seq
            return True

    def _write(self, text: str) -> bool:
        path = self.config.config_file_path
        if not (self.config.do_writes and path):
            return True
        try:
            mode = 0o640 if self.config.stats.auth else 0o644  # the stats password is in it
            validate = None if text == self._accepted else self._validate
            write_atomic(path, text, mode=mode, validate=validate)
        except ConfigRejected as exc:
            self.failed_validations += 1
            self._rejected = text
            log.error("haproxy config refused, not installed; HAProxy is unchanged: %s", exc)
            return False
        except OSError as exc:  # disk full, ...: the old file stays; the caller retries
            self.failed_writes += 1
            raise OSError(exc.errno, f"haproxy config not written, no reload: {exc}") from exc
        self.installs += 1
        return True

    def _validate(self, candidate: str) -> None:
        command, candidate_path = self._checks()
        validate_candidate(candidate, self.haproxy_bin, command, candidate_path=candidate_path)

    def _checks(self) -> tuple[str | None, str | None]:
        """check_command and Ruby's candidate path for it, when do_checks is on."""
        cfg = self.config
        if not cfg.do_checks:
            return None, None
        return cfg.check_command, cfg.candidate_config_file_path

    def _validates(self) -> bool:
        """Candidates are validated only when they are written."""
        return bool(self.config.do_writes and self.config.config_file_path)

    def _validate_text(self, text: str) -> None:
        command, candidate_path = self._checks()
        target = self.config.config_file_path or ""
        validate_text(text, target, self.haproxy_bin, command, candidate_path=candidate_path)
        self._accepted = text

    def _make_reloader(self) -> Reloader | None:
        cfg = self.config
        if not (cfg.do_reloads and cfg.reload_command):
            return None
        return Reloader(
            cfg.reload_command,
            cfg.restart_interval,
            cfg.restart_jitter,
            lock=self._lock,
            before=self._before_reload,
            after=self._after_reload,
            settle=self._settle,
        )

    def _request_reload(self) -> None:
        if self._reloader is None:
            log.info("haproxy config changed; reloads are off (do_reloads/reload_command)")
            return
        self._reloader.request()

    def _before_reload(self) -> None:
        """Until the new worker answers, nothing is sent to the old one (its changes would be
        lost): the live state is unknown, and a change meanwhile asks for one more reload."""
        self._worker_pid, self._new_pid = self._current_pid(), None
        self._reloading, self._live = self._installed, None
        if self._drainer:
            self._drainer.forget()
        if self._monitor:
            self._monitor.reloading()

    def _settle(self) -> bool:
        """Wait, without the lock, for the new worker; the pid is kept for `_after_reload`."""
        self._new_pid = self._await_new_worker(self._worker_pid)
        return self._new_pid is not None

    def _after_reload(self, ok: bool) -> None:
        """Once the new worker answers, HAProxy holds the file installed when it started."""
        loaded, self._reloading = self._reloading, None
        if ok:
            self._live = loaded
            self._learn(loaded)
        if self._monitor:
            self._monitor.reloaded(self._new_pid if ok else None)

    def _make_monitor(self) -> HaproxyMonitor | None:
        if self._socket is None:
            return None
        monitor = HaproxyMonitor(self._socket, self._lock, self._recover, self._reapply)
        monitor.start()
        return monitor

    def _recover(self, socket_missing: bool) -> None:
        """Start HAProxy again with the installed file (the monitor's thread, without the lock)."""
        with self._lock:
            if self._reloader is None or self._installed is None:
                log.error("HAProxy is down and reloads are off: synapse-py cannot restart it")
                return
            if socket_missing:
                self._respell_socket()
        self._reloader.request()

    def _respell_socket(self) -> None:
        """Render the socket path the other way, so the next reload binds a fresh socket."""
        if self._socket is None:
            return
        path = self._socket.path
        other = os.path.join(os.path.dirname(path), ".", os.path.basename(path))
        spelled = path if self.config.socket_file_path != path else other
        log.warning("admin socket %s is gone; the reload binds a new one as %s", path, spelled)
        self.config = dataclasses.replace(self.config, socket_file_path=spelled)
        if self._last:
            self.apply(*self._last)  # installs the file; no reload while HAProxy is down

    def _reapply(self) -> None:
        """Apply the last membership again: HAProxy or an address changed behind our back."""
        with self._lock:
            if self._last is None or self._stopping.is_set():
                return
            if self._live is None and self._reloading is None:
                self._live = self._installed  # a reload by someone else loads the installed file
                self._learn(self._installed)
                if self._drainer:
                    self._drainer.forget()
            self.apply(*self._last)

    def _current_pid(self) -> str | None:
        try:
            return self._socket.show_info().get("Pid") if self._socket else None
        except HaproxySocketError:
            return None

    def _await_new_worker(self, old_pid: str | None) -> str | None:
        """The new worker's pid ("" without a socket); None if none answered in time."""
        if self._socket is None:
            return ""
        deadline = time.monotonic() + self.settle_timeout
        while time.monotonic() < deadline and not self._stopping.is_set():
            pid = self._current_pid()
            if pid is not None and pid != old_pid:
                return pid
            time.sleep(0.05)
        log.error("no new HAProxy worker answered within %.1fs of the reload", self.settle_timeout)
        return None


@functools.lru_cache(maxsize=256)
def _say_reload_path(backend: str, reason: str) -> None:
    log.info("haproxy: backend %s takes joins and leaves by a reload: %s", backend, reason)


def _socket_for(config: HaproxyConfig) -> HaproxySocket | None:
    if config.do_socket and config.socket_file_path:
        return HaproxySocket(config.socket_file_path)
    return None
