"""The Envoy generator: file-based dynamic configuration that Envoy applies without a restart.

Each apply renders every file, checks all candidates (parsed back; with `binary_path`, also by
`envoy --mode validate`), and installs only the files whose content changed, each by
write-temp, fsync, rename: Envoy's file subscriptions react to the rename, never see a torn file.
Membership changes touch only `eds/<service>.yaml`; a CDS change (which makes Envoy rebuild a
changed cluster's connection pools) happens only when a service's Envoy config is added, removed
or changed. Install order keeps every reference valid: EDS, then CDS, then LDS; a removed
service's EDS file goes last. Envoy itself is never restarted or signalled.

Hostnames are resolved here (HostResolver: a host keeps its last address while DNS fails; one
that resolves later, or whose address changes, makes the last membership apply again).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from smartstack_common.atomic import read_current, write_atomic

from ...backend import Backend
from ...config import EnvoyConfig, ServiceConfig, SynapseConfig
from .. import register
from ..base import GeneratorBase, Location
from ..resolve import HostResolver
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
        self.resolver = HostResolver(
            config.resolve_timeout, lookup=lookup, on_change=wake or self._reapply
        )
        self.writes = 0
        self.rejected = 0
        self._lock = threading.RLock()  # the reconciler's and the resolver's threads apply
        self._last: tuple | None = None

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

    def _apply(
        self, services: Sequence[ServiceConfig], membership: Mapping[str, Sequence[Backend]]
    ) -> None:
        served = [s for s in services if s.envoy is not None]
        os.makedirs(self.layout.eds_directory, exist_ok=True)
        candidates = self._candidates(served, membership)
        changed = {path: text for path, text in candidates.items() if read_current(path) != text}
        if changed:
            try:
                self._check(candidates)
            except EnvoyFileError as e:
                self.rejected += 1
                log.error("envoy: candidate refused, the installed files stay: %s", e)
                return
            self._install(changed)
        self._purge({f"{s.name}.yaml" for s in served})

    def _candidates(
        self, served: Sequence[ServiceConfig], membership: Mapping[str, Sequence[Backend]]
    ) -> dict[str, str]:
        """Path -> content, in install order: EDS, CDS, LDS, then the bootstrap that names them.

        A service missing from `membership` (not discovered yet) keeps the EDS file it has; with
        none yet, it gets one without endpoints (the cluster must find its file).
        """
        backends = {s.name: membership[s.name] for s in served if s.name in membership}
        hosts = {b.host for bs in backends.values() for b in bs}
        addresses = self.resolver.resolve_all(hosts)
        self.resolver.retain(hosts)
        files = {}
        for s in served:
            path = self.layout.eds(s.name)
            if s.name in backends:
                files[path] = render_eds(s.name, _endpoints(backends[s.name], addresses))
            else:
                files[path] = read_current(path) or render_eds(s.name, ())
        files[self.layout.cds] = render_cds(served, self.layout)
        files[self.layout.lds] = render_lds(self.config, served)
        files[self.layout.bootstrap] = render_bootstrap(self.config, self.layout)
        return files

    def _check(self, candidates: Mapping[str, str]) -> None:
        eds = [p for p in candidates if os.path.dirname(p) == self.layout.eds_directory]
        assignments = [r for p in eds for r in parse_resources(candidates[p], ASSIGNMENT)]
        for assignment in assignments:
            check_endpoints(assignment)
        clusters = parse_resources(candidates[self.layout.cds], CLUSTER)
        listeners = parse_resources(candidates[self.layout.lds], LISTENER)
        if self.config.binary_path:
            validate_with_envoy(self.config.binary_path, listeners, clusters, assignments)

    def _install(self, changed: Mapping[str, str]) -> None:
        for path, text in changed.items():
            if path == self.layout.bootstrap and os.path.exists(path):
                log.warning("envoy: %s changed; Envoy reads it only when it (re)starts", path)
            write_atomic(path, text)
            self.writes += 1
            log.info("envoy: installed %s", path)

    def _purge(self, keep: set[str]) -> None:
        for entry in os.scandir(self.layout.eds_directory):
            if _is_eds_file(entry.name) and entry.name not in keep:
                log.info("envoy: removing %s (service no longer served)", entry.path)
                os.unlink(entry.path)


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
