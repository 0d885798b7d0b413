"""The HAProxy generator: each member a named server, added and removed by runtime API where it can.

Each apply renders haproxy.cfg from the whole desired state (exactly the live servers, so a
reload reproduces what the runtime API set) and, in backends whose structure the running HAProxy
already has, adds, changes and drains servers over the admin socket (haproxy/runtime.py). A change
of structure (a service, an option, a join in a backend HAProxy cannot add servers to: see
haproxy/config.runtime_refusal) or an unreachable socket installs the validated file and
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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ...backend import Backend
from ...config import HaproxyConfig, ServiceConfig, SynapseConfig
from ...desired import served_defaults
from .. import register
from ..base import GeneratorBase, Location
from ..resolve import RETAIN_INTERVAL, HostResolver
from .config import Plan, ServicePlan, runtime_refusal, server_options, signature
from .installer import HaproxyInstaller
from .live import LiveHaproxy
from .members import IdTable, Server, pinned_id
from .readback import (
    SEED_COMMENT,
    MembershipUnknown,
    installed_seed,
    installed_servers,
    read_installed,
)
from .screen import NodeScreen
from .servers import ordered, server_name

log = logging.getLogger(__name__)


@register("haproxy")
class HaproxyGenerator(GeneratorBase):
    """Keeps one HAProxy in step with the desired membership (see the module docstring).

    It plans (each service's servers: resolved, screened, with stable ids, in Ruby's order) and
    decides; `HaproxyInstaller` renders, validates and writes the file; `LiveHaproxy` holds
    what the running HAProxy serves, converges it over the admin socket and reloads it.
    """

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
        offline: bool = False,
    ):
        """`lookup(host)` resolves a hostname (tests); `wake()` is called when a background
        re-resolve changed an address (default: apply the last membership again). `offline`
        (`synapse-py render`): the same config and the same rendering, but the running HAProxy
        is neither asked nor reloaded, so only `render` is of use."""
        super().__init__(config)
        self.config: HaproxyConfig = config
        self._seed, seed_comment = _order_seed(config)
        self.haproxy_bin = haproxy_bin or shutil.which("haproxy") or "/usr/sbin/haproxy"
        self._lock = threading.RLock()
        self._ids: dict[str, IdTable] = {}
        self._wake = wake or self._reapply
        self._resolver = HostResolver(
            resolve_timeout,
            lookup=lookup,
            on_change=self._addresses_changed,
            retain_interval=RETAIN_INTERVAL,
        )
        # per service: (its config, its members, generation, its servers), reused while the
        # three are the same; the generation changes with what every service's servers depend
        # on (addresses, the node screen's verdicts, the config)
        self._planned: dict[str, tuple[ServiceConfig, Sequence[Backend], int, tuple[Server, ...]]]
        self._planned = {}
        self._generation = 0
        self._unscreened: set[str] = set()  # services planned since the node screen last ran
        self._stopping = threading.Event()
        self._last: tuple | None = None  # the last apply's arguments, to apply them again
        self._installer = HaproxyInstaller(config, self.haproxy_bin, seed_comment)
        self._screen = NodeScreen(self._installer.render, self._installer.validate_text)
        self._members: dict[str, Sequence[Backend]] = {}  # last membership applied, per service
        self._waiting: set[str] = set()  # services not discovered yet, already logged
        self._live = LiveHaproxy(
            config,
            self._lock,
            installed=lambda: self._installer.installed,
            respell=self._respell_socket,
            reapply=self._reapply,
            settle_timeout=settle_timeout,
            offline=offline,
        )

    # the figures (metrics) of its parts, read by GeneratorBase.figures
    renders = property(lambda self: self._installer.renders)
    installs = property(lambda self: self._installer.installs)
    failed_validations = property(lambda self: self._installer.failed_validations)
    failed_writes = property(lambda self: self._installer.failed_writes)
    runtime_commands = property(lambda self: self._live.runtime_commands)
    reloads = property(lambda self: self._live.reloads)

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
            live = self._live
            live.adopt(plan, self.config.config_file_path)
            complete, socket_down = live.converge(plan)
            if complete:  # HAProxy runs this already: the file catches up in the background
                live.applied(plan)
                self._installer.install_later(plan)
                return
            if not self._installer.install(plan):
                return
            if live.down:  # the monitor restarts HAProxy with this file
                return
            if socket_down or live.live is None or live.live.text != plan.text:
                live.request_reload()

    def render(
        self, services: Sequence[ServiceConfig], membership: Mapping[str, Sequence[Backend]]
    ) -> str:
        """The haproxy.cfg `apply` would install, without touching HAProxy or the disk."""
        with self._lock:
            return self._plan(services, membership).text

    def flush(self, timeout: float) -> bool:
        """Wait for the file to be installed and a deferred reload to run; False on timeout."""
        return self._installer.flush(timeout) and self._live.flush(timeout)

    def stop(self) -> None:
        """Install the pending file, drop a deferred reload; HAProxy keeps running."""
        self._stopping.set()
        self._live.stop()
        self._installer.stop()
        self._resolver.close()

    def _plan(
        self, services: Sequence[ServiceConfig], membership: Mapping, screen: bool = False
    ) -> Plan:
        """The desired state; with `screen`, nodes HAProxy refuses in context are left out."""
        enabled = [s for s in services if not s.haproxy.disabled]
        self._ids = {s.backend_name: self._id_table(s.backend_name) for s in enabled}
        self._members = {s.name: self._members_of(s, membership) for s in enabled}
        self._screen.retain((s, self._members[s.name]) for s in enabled)
        planned, changed = self._plan_servers(enabled)
        self._unscreened |= changed
        if screen and self._installer.validates:
            unscreened, self._unscreened = self._unscreened, set()
            if self._screen.screen(planned, unscreened):
                self._generation += 1  # a node was refused: every service's servers again
                planned, _ = self._plan_servers(enabled)
        text = self._installer.render(planned)
        return Plan(planned, signature(self.config, planned), text)

    def _plan_servers(
        self, enabled: Sequence[ServiceConfig]
    ) -> tuple[tuple[ServicePlan, ...], set[str]]:
        """Each service's servers, and the names of the services whose servers were computed
        (the others are reused: the cost of a change does not grow with the services)."""
        planned, changed = [], set()
        for svc in enabled:
            members = self._members[svc.name]
            hit = self._planned.get(svc.name)
            same = hit and hit[1] is members and hit[2] == self._generation
            if hit and same and (hit[0] is svc or hit[0] == svc):
                planned.append((svc, hit[3]))
                continue
            servers = self._servers(svc, members)
            self._planned[svc.name] = (svc, members, self._generation, servers)
            planned.append((svc, servers))
            changed.add(svc.name)
        if len(self._planned) > len(enabled):
            names = {s.name for s in enabled}
            self._planned = {n: p for n, p in self._planned.items() if n in names}
        return tuple(planned), changed

    def _addresses_changed(self) -> None:
        """A background lookup changed an address (or found a first one)."""
        with self._lock:
            self._generation += 1
        self._wake()

    def _members_of(self, svc: ServiceConfig, membership: Mapping) -> Sequence[Backend]:
        """The service's backends; one not discovered yet keeps what it had, what the running
        HAProxy serves, or its default_servers, else nothing is touched (MembershipUnknown)."""
        if svc.name in membership:
            return membership[svc.name]
        if svc.name in self._members:
            return self._members[svc.name]
        live = self._live.members(svc.backend_name)
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
        return IdTable({**known, **self._live.ids(backend)})

    def _servers(self, svc: ServiceConfig, backends: Sequence[Backend]) -> tuple[Server, ...]:
        addresses = self._resolver.resolve_all({b.host for b in backends})
        usable: dict[str, tuple[Backend, str]] = {}  # key -> (backend, its address)
        for b in backends:  # one per host:port (membership already is; a read-back may not be)
            address = addresses.get(b.host)
            if address and not self._screen.refused(svc, b):
                usable.setdefault(b.key, (b, address))
        held = self._live.held(svc.backend_name)  # in HAProxy still: their ids are taken
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

    def _respell_socket(self) -> None:
        """Render the socket path the other way, so the next reload binds a fresh socket."""
        socket = self._live.socket
        if socket is None:
            return
        path = socket.path
        other = os.path.join(os.path.dirname(path), ".", os.path.basename(path))
        spelled = path if self.config.socket_file_path != path else other
        log.warning("admin socket %s is gone; the reload binds a new one as %s", path, spelled)
        self.config = dataclasses.replace(self.config, socket_file_path=spelled)
        self._installer.config = self.config
        self._generation += 1
        if self._last:
            self.apply(*self._last)  # installs the file; no reload while HAProxy is down

    def _reapply(self) -> None:
        """Apply the last membership again: HAProxy or an address changed behind our back."""
        with self._lock:
            if self._last is None or self._stopping.is_set():
                return
            self._live.assume_installed()  # a reload by someone else loads the installed file
            self._generation += 1
            self.apply(*self._last)


def _order_seed(config: HaproxyConfig) -> tuple[int, str | None]:
    """(server_order_seed, the header comment recording it when drawn). Ruby draws one at each
    start; we draw one once and keep it in haproxy.cfg, so a restart does not reshuffle the
    file and `render` prints the order the daemon installed."""
    if config.server_order_seed is not None:
        return config.server_order_seed, None
    seed = installed_seed(read_installed(config.config_file_path))
    if seed is None:
        seed = random.randrange(2000)  # Ruby's rand(2000)
    return seed, f"{SEED_COMMENT} {seed}"


@functools.lru_cache(maxsize=256)
def _say_reload_path(backend: str, reason: str) -> None:
    log.info("haproxy: backend %s takes joins and leaves by a reload: %s", backend, reason)
