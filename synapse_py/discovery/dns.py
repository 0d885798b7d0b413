"""`dns`: the backends are the addresses the `servers` entries' hostnames resolve to.

Ruby's DnsWatcher: every `check_interval` seconds (default 30) each entry's host is looked up
(dns_lookup: one backend per address, named by the entry's `name`, with its port and labels);
the membership is published at start and then on changes only (Ruby's `last_resolution ==
current_resolution`). `nameserver` is a host (port 53), a `host:port`, or a list; without one,
/etc/resolv.conf. `DnsPoller` is the polling thread, shared with `zookeeper_dns`, whose entries
come from ZooKeeper instead of the config (`set_servers`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..backend import Backend
from .dns_lookup import (
    DEFAULT_CHECK_INTERVAL,
    DnsLookup,
    DnsServer,
    parse_nameserver,
    parse_servers,
)
from .protocol import DiscoveryContext, Published, register

if TYPE_CHECKING:
    from ..config import ServiceConfig

log = logging.getLogger(__name__)

_HOSTS = {"type": "string", "minLength": 1}
# the keys every dns method takes: how names are resolved (dns, zookeeper_dns, zookeeper_dns_poll)
RESOLVE_KEYS: Mapping[str, Any] = {
    "nameserver": {"anyOf": [_HOSTS, {"type": "array", "minItems": 1, "items": _HOSTS}]},
    "check_interval": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400},
}
DNS_KEYS: Mapping[str, Any] = {
    # each entry is checked by parse_servers (its errors name the entry); a string is skipped
    "servers": {"type": "array", "minItems": 1, "items": {"type": ["object", "string"]}},
    **RESOLVE_KEYS,
}


@dataclass(frozen=True)
class Resolving:
    """How a dns method resolves names: the validated `nameserver` and `check_interval`."""

    nameserver: tuple[tuple[str, int], ...] = ()
    check_interval: float = DEFAULT_CHECK_INTERVAL

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> Resolving:
        """From a schema-valid section; ValueError naming the key (`nameserver ...`)."""
        interval = float(raw.get("check_interval", DEFAULT_CHECK_INTERVAL))
        return cls(parse_nameserver(raw.get("nameserver")), interval)

    def lookup(self, servers: tuple[DnsServer, ...] = ()) -> DnsLookup:
        return DnsLookup(servers, self.nameserver)


@dataclass(frozen=True)
class DnsSettings(Resolving):
    """The `dns` method's section, validated; `warnings`: entries that give no backend."""

    servers: tuple[DnsServer, ...] = ()
    warnings: tuple[str, ...] = ()


def dns_settings(raw: Mapping[str, Any]) -> DnsSettings:
    """The dns method's keys (schema-valid); ValueError naming the key."""
    resolving = Resolving.read(raw)
    warnings: list[str] = []
    servers = parse_servers(raw.get("servers"), "servers", warnings)
    return DnsSettings(
        resolving.nameserver, resolving.check_interval, servers, warnings=tuple(warnings)
    )


class DnsPoller:
    """Resolves a `DnsLookup` every `interval` seconds on its own thread and calls
    `publish(backends)` at the first round and whenever the backends change; `publish` must not
    block (it enqueues). `set_servers` replaces the entries and resolves at once."""

    def __init__(
        self,
        lookup: DnsLookup,
        interval: float,
        publish: Callable[[tuple[Backend, ...]], None],
        name: str = "dns",
    ):
        self.lookup = lookup
        self.interval = interval
        self._publish = publish
        self._name = name
        self._stopped = False
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._pending: tuple[DnsServer, ...] | None = None
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def healthy(self) -> bool:
        """The nameserver answered every lookup of the last round (and the thread runs)."""
        alive = self._thread is None or self._thread.is_alive()
        return alive and self.lookup.healthy

    def start(self) -> None:
        if self._thread is None and not self._stopped:
            self._thread = threading.Thread(target=self._run, name=f"dns-{self._name}")
            self._thread.daemon = True
            self._thread.start()

    def set_servers(self, servers: tuple[DnsServer, ...]) -> None:
        """From any thread: resolve `servers` from now on, starting with a round at once."""
        with self._lock:
            self._pending = servers
        self._wake.set()
        self.start()

    def stop(self, timeout: float = 0.0) -> None:
        """Stop polling; nothing is published after this returns. Waits up to `timeout` for a
        round in progress (a stuck lookup is abandoned: the thread is a daemon)."""
        self._stopped = True
        self._wake.set()
        if self._thread is not None and timeout > 0:
            self._thread.join(timeout)

    def _run(self) -> None:
        last: tuple[Backend, ...] | None = None
        while not self._stopped:
            started = time.monotonic()
            with self._lock:
                pending, self._pending = self._pending, None
                self._wake.clear()
            if pending is not None:
                self.lookup.set_servers(pending)
            try:
                current = self.lookup.resolve()
                if current != last and not self._stopped:
                    self._publish(current)
                    last = current
            except Exception:  # noqa: BLE001 - as Ruby's watcher: log and keep polling
                log.exception("%s: dns lookup round failed", self._name)
            # Ruby's sleep_until_next_check: rounds start `interval` apart
            self._wake.wait(max(0.0, self.interval - (time.monotonic() - started)))


@register("dns")
class DnsDiscovery(Published):
    """One service's `servers`, resolved every `check_interval` (see the module docstring)."""

    keys: ClassVar[Mapping[str, Any]] = DNS_KEYS
    required: ClassVar[tuple[str, ...]] = ("servers",)

    def __init__(self, service: ServiceConfig, context: DiscoveryContext):
        super().__init__(service, context)
        settings: DnsSettings = service.discovery.settings
        lookup = settings.lookup(settings.servers)
        self.poller = DnsPoller(lookup, settings.check_interval, self.publish, service.name)

    @property
    def invalid(self) -> int:  # type: ignore[override]  # read-only here: the lookup counts
        return self.poller.lookup.invalid

    def start(self) -> None:
        self.poller.start()

    def stop(self) -> None:
        self.poller.stop()

    def healthy(self) -> bool:
        return self.poller.healthy

    @classmethod
    def settings(cls, raw: Mapping[str, Any]) -> Any:
        return dns_settings(raw)
