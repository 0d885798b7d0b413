"""A service znode's own data as HAProxy config: Ruby synapse's generator config from ZooKeeper.

Ruby synapse reads the data of the watched path itself; a JSON object with a `haproxy` key
replaces the service's local `haproxy` section. Whoever can write that znode then decides what
HAProxy binds and runs for the service (a `bind 0.0.0.0`, an `errorfile` that serves any file
HAProxy can read, ...), so synapse-py uses it only with `haproxy.trust_registry_config: true`;
otherwise it says once that it ignores it.

The data is untrusted registry input either way: it must be UTF-8 JSON of at most 64 KiB, and its
`haproxy` section must pass the same schema as the local one (no control characters, no unknown
key); its lines are screened as the local ones are (haproxy/keywords.py). Invalid data keeps the
local config, logged once per distinct data and counted.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable
from functools import lru_cache

from . import schema
from .config import ServiceConfig, ServiceHaproxyConfig, service_haproxy
from .config_file import ConfigError, check_value

log = logging.getLogger(__name__)

MAX_DATA_BYTES = 64 * 1024


class RegistryConfigs:
    """The accepted registry haproxy sections, per service, and how many were refused."""

    def __init__(self) -> None:
        self.invalid = 0  # data refused (not counted again while it stays the same)
        self._found: dict[str, ServiceHaproxyConfig] = {}
        self._data: dict[str, tuple[bytes | None, bool]] = {}  # what `_found` was taken from

    def update(self, service: ServiceConfig, data: bytes | None, trusted: bool) -> bool:
        """Take the service path's data; True if the effective haproxy section changed."""
        if self._data.get(service.name) == (data, trusted):
            return False
        self._data[service.name] = (data, trusted)
        before = self._found.pop(service.name, None)
        try:
            found = haproxy_section(service, data, trusted)
        except ConfigError as e:
            self.invalid += 1
            log.warning("%s: keeping the local haproxy config: %s", service.name, e)
            found = None
        if found is not None:
            self._found[service.name] = found
        return found != before

    def refresh(self, services: Iterable[ServiceConfig], trusted: bool) -> bool:
        """Judge the data seen again (a new config may trust it or not); True if one changed."""
        seen = [(s, self._data[s.name][0]) for s in services if s.name in self._data]
        return any([self.update(s, data, trusted) for s, data in seen])

    def forget(self, name: str) -> None:
        self._found.pop(name, None)
        self._data.pop(name, None)

    def effective(self, service: ServiceConfig) -> ServiceConfig:
        """The service with its registry haproxy section, when it has an accepted one."""
        found = self._found.get(service.name)
        return service if found is None else dataclasses.replace(service, haproxy=found)


def haproxy_section(
    service: ServiceConfig, data: bytes | None, trusted: bool
) -> ServiceHaproxyConfig | None:
    """The `haproxy` section of the data (None: there is none, or it is not trusted); raise
    ConfigError when it is invalid."""
    where = f"znode {service.discovery.path}"
    if not data or not data.strip():
        return None
    if len(data) > MAX_DATA_BYTES:
        raise ConfigError(f"{where}: data larger than {MAX_DATA_BYTES} bytes")
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None  # not generator config (Ruby ignores it too)
    if not isinstance(parsed, dict) or "haproxy" not in parsed:
        return None
    if not trusted:
        _untrusted(service.name, where)
        return None
    return service_haproxy(check_value(where, parsed["haproxy"], schema.SERVICE_HAPROXY))


@lru_cache(maxsize=1024)
def _untrusted(service: str, where: str) -> None:
    log.warning(
        "%s: %s carries a haproxy config, which Ruby synapse would use; ignored (set"
        " haproxy.trust_registry_config: true to use it, see docs/synapse.md)",
        service,
        where,
    )
