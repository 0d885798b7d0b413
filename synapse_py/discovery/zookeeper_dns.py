"""`zookeeper_dns` and `zookeeper_dns_poll`: ZooKeeper membership whose hosts are DNS names.

Ruby's ZookeeperDnsWatcher (and ZookeeperDnsPollWatcher): a ZooKeeper discovery (`zookeeper`,
watched, or `zookeeper_poll`, polled every `polling_interval_sec`) finds the nodes; each node's
host is then resolved as a `dns` entry is (dns_lookup), at once when the nodes change and every
`check_interval` seconds (default 30): one backend per address the host resolves to, with the
node's port, name and labels only (Ruby's DNS watcher builds exactly these; the node's weight and
haproxy_server_options are dropped, as in Ruby). A name that does not exist gives no backend; a
lookup that fails keeps the name's last answer (docs/migration.md). An IP address is its own
address. The ZooKeeper part is composed, not copied: the ZooKeeper discovery class handles the
ZooKeeper events, and a `Published` holds the resolved membership the DnsPoller thread publishes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..backend import Backend
from .dns import RESOLVE_KEYS, DnsPoller, Resolving
from .dns_lookup import DnsServer
from .protocol import DiscoveryContext, Found, Membership, Published, Touched, register
from .zookeeper import ZOOKEEPER_KEYS, ZookeeperDiscovery
from .zookeeper_poll import POLL_KEYS, ZookeeperPollDiscovery

if TYPE_CHECKING:
    from ..config import ServiceConfig


@dataclass(frozen=True)
class ZookeeperDnsSettings(Resolving):
    """`nameserver`, `check_interval`, and for zookeeper_dns_poll `polling_interval_sec`."""

    polling_interval_sec: float | None = None


def dns_server(node: Backend) -> DnsServer:
    """A ZooKeeper node as a dns entry: its host, and the port, name and labels Ruby keeps."""
    record = node.to_json()
    return DnsServer(node.host, record["port"], record["name"], json.dumps(record["labels"]))


@register("zookeeper_dns")
class ZookeeperDnsDiscovery:
    """A ZooKeeper discovery whose nodes' hosts are resolved (see the module docstring)."""

    zookeeper: ClassVar[type[ZookeeperDiscovery]] = ZookeeperDiscovery
    keys: ClassVar[Mapping[str, Any]] = {**ZOOKEEPER_KEYS, **RESOLVE_KEYS}
    required: ClassVar[tuple[str, ...]] = ("hosts", "path")

    def __init__(self, service: ServiceConfig, context: DiscoveryContext):
        self.service = service
        self.zk = self.zookeeper(service, context)
        self.resolved = Published(service, context)  # the membership the poller publishes
        settings: ZookeeperDnsSettings = service.discovery.settings
        self.poller = DnsPoller(
            settings.lookup(), settings.check_interval, self.resolved.publish, service.name
        )
        self._servers: tuple[DnsServer, ...] | None = None  # the entries last handed over

    @property
    def invalid(self) -> int:
        return self.zk.invalid + self.poller.lookup.invalid

    @property
    def reads(self) -> int:
        return self.zk.reads

    def start(self) -> None:
        self.zk.start()  # the poller starts with the first complete ZooKeeper membership

    def stop(self) -> None:
        self.zk.stop()
        self.poller.stop()

    def healthy(self) -> bool:
        """ZooKeeper is connected and the nameserver answered the last round (Ruby's ping?)."""
        return self.zk.healthy() and self.poller.healthy

    def handle(self, event: object) -> Touched:
        if isinstance(event, Membership):
            return self.resolved.handle(event)
        if self.zk.handle(event) and self.zk.ready():
            servers = tuple(dns_server(node) for node in self.zk.backends())
            if servers != self._servers:
                self._servers = servers
                self.poller.set_servers(servers)  # resolved on the poller's thread, at once
        return Touched.NOTHING  # what changes the service is the resolution (a Membership)

    def ready(self) -> bool:
        return self.resolved.ready()

    def backends(self) -> tuple[Backend, ...]:
        return self.resolved.backends()

    @classmethod
    def settings(cls, raw: Mapping[str, Any]) -> Any:
        resolving = Resolving.read(raw)
        interval = raw.get("polling_interval_sec")
        return ZookeeperDnsSettings(
            resolving.nameserver,
            resolving.check_interval,
            None if interval is None else float(interval),
        )

    @classmethod
    def snapshot(cls, service: ServiceConfig, context: DiscoveryContext, timeout: float) -> Found:
        """Read ZooKeeper once (the CLI), then resolve its nodes' hosts once."""
        nodes, data = cls.zookeeper.snapshot(service, context, timeout)
        settings: ZookeeperDnsSettings = service.discovery.settings
        lookup = settings.lookup(tuple(dns_server(node) for node in nodes))
        return lookup.resolve(), data


@register("zookeeper_dns_poll")
class ZookeeperDnsPollDiscovery(ZookeeperDnsDiscovery):
    """As `zookeeper_dns`, with the nodes found by `zookeeper_poll` (no watch)."""

    zookeeper: ClassVar[type[ZookeeperDiscovery]] = ZookeeperPollDiscovery
    keys: ClassVar[Mapping[str, Any]] = {**ZOOKEEPER_KEYS, **POLL_KEYS, **RESOLVE_KEYS}
    required: ClassVar[tuple[str, ...]] = ("hosts", "path", "polling_interval_sec")
