"""From a service's child names to its validated backends (the reader side, with a cache).

Each child is read at most once: sequential names are unique, and a path-encoded name carries its
data. A node that fails validation is skipped whole, logged once and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kazoo.exceptions import NoNodeError

from .backend import Backend, InvalidNode, decode_node, matches_label_filters
from .config import ServiceConfig

log = logging.getLogger(__name__)

Reader = Callable[[str], bytes]  # full path -> node data; raises NoNodeError when gone


class ServiceMembers:
    """Decodes and caches one service's children."""

    def __init__(self, service: ServiceConfig):
        self.service = service
        self._cache: dict[str, Backend | None] = {}  # child name -> backend (None: invalid)
        self.reads = 0
        self.invalid = 0

    def backends(self, names: tuple[str, ...], read: Reader) -> tuple[Backend, ...]:
        """Validated, label-filtered backends for `names`, deduplicated by host:port, sorted."""
        self._cache = {n: self._cache[n] for n in names if n in self._cache}
        found: dict[str, Backend] = {}
        for name in names:
            backend = self._cached(name, read)
            if backend is not None and matches_label_filters(backend, self._filters):
                found.setdefault(backend.key, backend)
        return tuple(sorted(found.values()))

    @property
    def _filters(self):
        return self.service.discovery.label_filters

    def _cached(self, name: str, read: Reader) -> Backend | None:
        if name in self._cache:
            return self._cache[name]
        try:
            backend = self._decode(name, read)
        except NoNodeError:
            return None  # deleted between listing and reading: it is gone, do not cache
        except InvalidNode as e:
            self.invalid += 1
            log.warning("%s: skipping invalid node %r: %s", self.service.name, name[:80], e)
            backend = None
        self._cache[name] = backend
        return backend

    def _decode(self, name: str, read: Reader) -> Backend:
        if name.startswith("base64_"):
            return decode_node(name, None)
        self.reads += 1
        return decode_node(name, read(f"{self.service.discovery.path}/{name}"))


def desired_backends(
    service: ServiceConfig, discovered: tuple[Backend, ...], previous: tuple[Backend, ...] | None
) -> tuple[Backend, ...]:
    """Apply default_servers, keep_default_servers and the use_previous_backends guard."""
    if not discovered and previous and service.use_previous_backends:
        log.warning(
            "%s: discovery returned no backends; keeping the previous %d",
            service.name,
            len(previous),
        )
        return previous
    if service.keep_default_servers:
        merged = {b.key: b for b in (*service.default_servers, *discovered)}
        return tuple(sorted(merged.values()))
    return discovered or tuple(sorted(service.default_servers))
