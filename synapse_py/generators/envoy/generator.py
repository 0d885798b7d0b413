"""The Envoy generator: file-based dynamic configuration that Envoy applies without a restart.

Each apply renders the EDS file of each service whose membership changed (the others' are
reused) and, only when the served services or their Envoy config changed, CDS, LDS and the
bootstrap; each candidate is compared with the installed file (a stat, generators/installed.py)
and only the files whose content changed are checked and installed, each by write-temp, fsync,
rename: Envoy's file subscriptions react to the rename, never see a torn file. Checks: every
changed EDS file is parsed back and its endpoints checked (IP literals, ports); with
`binary_path`, a change of CDS or LDS is validated by `envoy --mode validate` with every
candidate resource. Membership changes touch only `eds/<service>.yaml`, so a change costs the
services it touches; a CDS change (which makes Envoy rebuild a changed cluster's connection
pools) happens only when a service's Envoy config is added, removed or changed. Install order
keeps every reference valid: EDS, then CDS, then LDS; a removed service's EDS file goes last.
Envoy itself is never restarted or signalled.

Hostnames are resolved here (HostResolver: a host keeps its last address while DNS fails; one
that resolves later, or whose address changes, makes the last membership apply again).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ...backend import Backend
from ...config import EnvoyConfig, ServiceConfig, SynapseConfig
from .. import register
from ..base import GeneratorBase, Location
from ..installed import InstalledFiles
from ..resolve import RETAIN_INTERVAL, HostResolver
from .files import (
    ASSIGNMENT,
    CLUSTER,
    LISTENER,
    Endpoint,
    EnvoyFileError,
    EnvoyLayout,
    check_endpoints,
    parse_resources,
    render_bootstrap,
    render_cds,
    render_eds,
    render_lds,
    validate_with_envoy,
)

log = logging.getLogger(__name__)


@register("envoy")
class EnvoyGenerator(GeneratorBase):
    """Keeps `<output_directory>` (bootstrap, LDS, CDS, EDS files) matching the membership."""

    name = "envoy"

    @classmethod
    def section(cls, config: SynapseConfig) -> EnvoyConfig | None:
        return config.envoy

    @classmethod
    def owned(cls, section: EnvoyConfig) -> list[Location]:
        out = section.output_directory
        return [(out, ""), (str(Path(out) / "eds"), "")]

    def __init__(
        self,
        config: EnvoyConfig,
        lookup: Callable[[str], str] | None = None,
        wake: Callable[[], None] | None = None,
    ):
        """`lookup(host)` resolves a hostname (tests); `wake()` is called when a background
        re-resolve changed an address (default: apply the last membership again)."""
        self.config = config
        self.layout = EnvoyLayout(config.output_directory)
        self._wake = wake or self._reapply
        self.resolver = HostResolver(
            config.resolve_timeout,
            lookup=lookup,
            on_change=self._addresses_changed,
            retain_interval=RETAIN_INTERVAL,
        )
        self.writes = 0
        self.rejected = 0
        self._lock = threading.RLock()  # the reconciler's and the resolver's threads apply
        self._last: tuple | None = None
        self._files = InstalledFiles()
        # per service: (its members, the address generation, its EDS text)
        self._eds: dict[str, tuple[Sequence[Backend], int, str]] = {}
        self._generation = 0  # bumped when a background lookup changed an address
        self._served: tuple[ServiceConfig, ...] | None = None  # what CDS and LDS were made of
        self._structure: dict[str, str] = {}  # CDS, LDS and bootstrap paths -> their text

    def apply(
        self, services: Sequence[ServiceConfig], membership: Mapping[str, Sequence[Backend]]
    ) -> None:
        """Install the files for the services that have an `envoy` section; drop stale EDS files."""
        with self._lock:
            self._last = (services, membership)
            self._apply(services, membership)

    def stop(self) -> None:
        self.resolver.close()

    def figures(self) -> Mapping[str, float]:
        return {"writes": self.writes, "failed_validations": self.rejected}

    def _reapply(self) -> None:
        with self._lock:
            if self._last is not None:
                self._apply(*self._last)

    def _addresses_changed(self) -> None:
        with self._lock:
            self._generation += 1
        self._wake()

    def _apply(
        self, services: Sequence[ServiceConfig], membership: Mapping[str, Sequence[Backend]]
    ) -> None:
        served = tuple(s for s in services if s.envoy is not None)
        os.makedirs(self.layout.eds_directory, exist_ok=True)
        structural = served != self._served
        eds = self._eds_candidates(served, membership)
        structure = self._structure_candidates(served) if structural else self._structure
        candidates = {**eds, **structure}  # install order: EDS, CDS, LDS, bootstrap
        changed = {p: t for p, t in candidates.items() if self._files.current(p) != t}
        if changed:
            try:
                self._check(changed, candidates)
            except EnvoyFileError as e:
                self.rejected += 1
                log.error("envoy: candidate refused, the installed files stay: %s", e)
                return
            self._install(changed)
        if structural:
            self._served, self._structure = served, structure
            self._purge({f"{s.name}.yaml" for s in served})
        self.resolver.retain(b.host for s in served for b in membership.get(s.name, ()))

    def _eds_candidates(
        self, served: Sequence[ServiceConfig], membership: Mapping[str, Sequence[Backend]]
    ) -> dict[str, str]:
        """Path -> EDS text per service; rendered again only for a service whose members (or an
        address) changed. A service missing from `membership` (not discovered yet) keeps the EDS
        file it has; with none yet, it gets one without endpoints (the cluster must find it)."""
        files, fresh = {}, {}
        for s in served:
            path = self.layout.eds(s.name)
            members = membership.get(s.name)
            hit = self._eds.get(s.name)
            if members is None:
                files[path] = self._files.current(path) or render_eds(s.name, ())
            elif hit and hit[0] is members and hit[1] == self._generation:
                files[path] = hit[2]
            else:
                fresh[s.name] = (path, members)
        if fresh:
            hosts = {b.host for _, members in fresh.values() for b in members}
            addresses = self.resolver.resolve_all(hosts)
            for name, (path, members) in fresh.items():
                text = render_eds(name, _endpoints(members, addresses))
                self._eds[name] = (members, self._generation, text)
                files[path] = text
        if len(self._eds) > len(served):
            names = {s.name for s in served}
            self._eds = {n: e for n, e in self._eds.items() if n in names}
        return files

    def _structure_candidates(self, served: Sequence[ServiceConfig]) -> dict[str, str]:
        return {
            self.layout.cds: render_cds(served, self.layout),
            self.layout.lds: render_lds(self.config, served),
            self.layout.bootstrap: render_bootstrap(self.config, self.layout),
        }

    def _check(self, changed: Mapping[str, str], candidates: Mapping[str, str]) -> None:
        """Changed EDS files parse and hold IP endpoints; a changed CDS or LDS is validated
        (with `binary_path`: by Envoy, with every candidate assignment)."""
        eds_dir = self.layout.eds_directory
        for path, text in changed.items():
            if os.path.dirname(path) == eds_dir:
                for assignment in parse_resources(text, ASSIGNMENT):
                    check_endpoints(assignment)
        clusters = parse_resources(candidates[self.layout.cds], CLUSTER)
        listeners = parse_resources(candidates[self.layout.lds], LISTENER)
        structural = self.layout.cds in changed or self.layout.lds in changed
        if self.config.binary_path and structural:
            eds = [p for p in candidates if os.path.dirname(p) == eds_dir]
            assignments = [r for p in eds for r in parse_resources(candidates[p], ASSIGNMENT)]
            validate_with_envoy(self.config.binary_path, listeners, clusters, assignments)

    def _install(self, changed: Mapping[str, str]) -> None:
        for path, text in changed.items():
            if path == self.layout.bootstrap and os.path.exists(path):
                log.warning("envoy: %s changed; Envoy reads it only when it (re)starts", path)
            self._files.write(path, text)
            self.writes += 1
            log.info("envoy: installed %s", path)

    def _purge(self, keep: set[str]) -> None:
        for entry in os.scandir(self.layout.eds_directory):
            if _is_eds_file(entry.name) and entry.name not in keep:
                log.info("envoy: removing %s (service no longer served)", entry.path)
                os.unlink(entry.path)
                self._files.forget(entry.path)


def _endpoints(backends: Sequence[Backend], addresses: Mapping[str, str | None]) -> list[Endpoint]:
    """Backends whose host resolved, as endpoints (hostnames resolve here: EDS takes IPs only)."""
    return [
        Endpoint(address, b.port, b.weight)
        for b in backends
        if (address := addresses.get(b.host)) is not None
    ]


def _is_eds_file(name: str) -> bool:
    """Hidden files are write_atomic's temp files, never Envoy's."""
    return name.endswith(".yaml") and not name.startswith(".")
