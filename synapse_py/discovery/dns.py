"""The `dns` discovery method's config and its polling thread, ready for a discovery plug-in.

`dns_config` validates the method's own keys (`servers`, `nameserver`, `check_interval`, as Ruby's
DnsWatcher reads them). `DnsPoller` resolves every `check_interval` seconds and calls
`publish(backends)` with the service's full membership: once at start, then on each change only
(Ruby's `last_resolution == current_resolution`); `publish` must not block (it enqueues).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .backend import Backend
from .dns_lookup import (
    DEFAULT_CHECK_INTERVAL,
    DEFAULT_TIMEOUT,
    DnsLookup,
    DnsServer,
    parse_nameserver,
    parse_servers,
)

log = logging.getLogger(__name__)

DNS_KEYS = ("servers", "nameserver", "check_interval")  # besides `method` and the common ones


@dataclass(frozen=True)
class DnsConfig:
    """A service's `discovery` for the dns method, validated."""

    servers: tuple[DnsServer, ...]
    nameserver: tuple[tuple[str, int], ...] = ()
    check_interval: float = DEFAULT_CHECK_INTERVAL


def dns_config(discovery: Mapping, where: str = "discovery") -> DnsConfig:
    """Validate the dns method's keys; ValueError naming `where` and the key."""
    interval = discovery.get("check_interval", DEFAULT_CHECK_INTERVAL)
    if type(interval) not in (int, float) or not 0 < interval <= 86400:
        raise ValueError(f"{where}.check_interval: must be a number of seconds in (0, 86400]")
    try:
        nameserver = parse_nameserver(discovery.get("nameserver"))
    except ValueError as e:
        raise ValueError(f"{where}.{e}") from None
    servers = parse_servers(discovery.get("servers"), f"{where}.servers")
    return DnsConfig(servers, nameserver, float(interval))


class DnsPoller:
    """One service's lookups on a thread: publishes its membership at start and on changes."""

    def __init__(
        self,
        config: DnsConfig,
        publish: Callable[[tuple[Backend, ...]], None],
        name: str = "dns",
        timeout: float = DEFAULT_TIMEOUT,
        ipv6: bool | None = None,
    ):
        self.config = config
        self.lookup = DnsLookup(config.servers, config.nameserver, timeout, ipv6)
        self._publish = publish
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def healthy(self) -> bool:
        """The thread runs and its last round had no failed lookup (Ruby's `ping?`)."""
        return self._thread is not None and self._thread.is_alive() and self.lookup.healthy

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"dns-{self._name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop polling; waits for a round in progress (bounded by the lookup timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.lookup.timeout + 1 if timeout is None else timeout)

    def _run(self) -> None:
        last: tuple[Backend, ...] | None = None
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                current = self.lookup.resolve()
                if current != last and not self._stop.is_set():
                    self._publish(current)
                    last = current
            except Exception:  # noqa: BLE001 - as Ruby's watcher: log and keep polling
                log.exception("%s: dns lookup round failed", self._name)
            # Ruby's sleep_until_next_check: rounds start check_interval apart
            self._stop.wait(max(0.0, self.config.check_interval - (time.monotonic() - started)))
