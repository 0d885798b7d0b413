"""The dns, zookeeper_dns and zookeeper_dns_poll methods in process: their keys (validated from
the classes' schemas and settings, errors naming the key path) and how zookeeper_dns hands the
ZooKeeper membership to its DNS poller (a fake ZooKeeper discovery and a recording poller).
Lookups against a real DNS server are in tests/integration/test_dns_lookup.py, the methods end
to end in tests/integration/test_dns_discovery.py."""

from __future__ import annotations

import json
import queue
from pathlib import Path
from types import SimpleNamespace

import pytest

from synapse_py.backend import Backend, backend_from_dict
from synapse_py.config import ConfigError, load_config
from synapse_py.discovery import DiscoveryContext, Membership, Touched
from synapse_py.discovery.dns import DnsDiscovery, DnsSettings
from synapse_py.discovery.dns_lookup import DnsServer
from synapse_py.discovery.zookeeper_dns import (
    ZookeeperDnsDiscovery,
    ZookeeperDnsPollDiscovery,
    ZookeeperDnsSettings,
    dns_server,
)

ZK = {"hosts": ["z:2181"], "path": "/web"}
ENTRY = {"name": "web", "host": "web.test", "port": 8080}


def load(tmp_path: Path, section: dict):
    path = tmp_path / "synapse.json"
    path.write_text(json.dumps({"services": {"web": {"discovery": section}}}))
    return load_config(path)


def test_dns_reads_rubys_keys_with_their_defaults(tmp_path):
    svc = load(tmp_path, {"method": "dns", "servers": [ENTRY]}).service("web")
    settings: DnsSettings = svc.discovery.settings
    assert (settings.nameserver, settings.check_interval) == ((), 30.0)
    assert settings.servers == (DnsServer("web.test", 8080, "web", "null"),)
    section = {"method": "dns", "servers": [ENTRY], "nameserver": ["10.0.0.2", "[::1]:5353"],
               "check_interval": 2}  # fmt: skip
    settings = load(tmp_path, section).service("web").discovery.settings
    assert settings.nameserver == (("10.0.0.2", 53), ("::1", 5353))
    assert settings.check_interval == 2.0


def test_zookeeper_dns_reads_rubys_keys_with_their_defaults(tmp_path):
    svc = load(tmp_path, {"method": "zookeeper_dns", **ZK}).service("web")
    assert svc.discovery.settings == ZookeeperDnsSettings((), 30.0, None)
    assert (svc.discovery.hosts, svc.discovery.path) == (("z:2181",), "/web")
    section = {"method": "zookeeper_dns_poll", **ZK, "polling_interval_sec": 5,
               "nameserver": "127.0.0.1:5353", "check_interval": 1}  # fmt: skip
    settings = load(tmp_path, section).service("web").discovery.settings
    assert settings == ZookeeperDnsSettings((("127.0.0.1", 5353),), 1.0, 5.0)


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"method": "dns"}, "'servers' is a required property"),
        ({"method": "dns", "servers": []}, "services.web.discovery.servers"),
        ({"method": "dns", "servers": [{"port": 80}]}, r"discovery\.servers\.0\.host"),
        ({"method": "dns", "servers": [{**ENTRY, "port": 0}]}, r"discovery\.servers\.0: "),
        ({"method": "dns", "servers": [ENTRY], "check_interval": 0}, "check_interval"),
        ({"method": "dns", "servers": [ENTRY], "check_interval": "5"}, "check_interval"),
        ({"method": "dns", "servers": [ENTRY], "nameserver": "ns:0"},
         "services.web.discovery.nameserver 'ns:0': port"),
        ({"method": "dns", "servers": [ENTRY], **ZK}, "hosts"),  # zookeeper's keys: refused
        ({"method": "zookeeper_dns", "path": "/web"}, "'hosts' is a required property"),
        ({"method": "zookeeper_dns", **ZK, "servers": [ENTRY]}, "servers"),
        ({"method": "zookeeper_dns", **ZK, "polling_interval_sec": 1}, "polling_interval_sec"),
        ({"method": "zookeeper_dns_poll", **ZK}, "'polling_interval_sec' is a required"),
        ({"method": "zookeeper_dns", **ZK, "nameserver": 53}, "nameserver"),
    ],
)  # fmt: skip
def test_bad_keys_are_refused_naming_the_key(tmp_path, section, problem):
    with pytest.raises(ConfigError, match=problem):
        load(tmp_path, section)


def test_a_string_entry_is_a_warning_naming_it(tmp_path):
    config = load(tmp_path, {"method": "dns", "servers": ["0.www.example.com", ENTRY]})
    assert [w.split(": ", 1)[1] for w in config.warnings] == [
        "services.web.discovery.servers.0: '0.www.example.com' is a string, not {host, port}: "
        "no backends"
    ]


def test_a_node_becomes_a_dns_entry_with_what_ruby_keeps():
    # Ruby's DNS watcher builds {host, port, name, labels}: the node's weight and server options
    # are dropped; raw values stay raw (a port "8080" is written as given)
    raw = {"host": "a.test", "port": "8080", "name": "i-1", "weight": 7,
           "haproxy_server_options": "backup", "labels": {"az": "b"}}  # fmt: skip
    node = backend_from_dict(raw)
    entry = dns_server(node)
    assert entry == DnsServer("a.test", "8080", "i-1", '{"az": "b"}')
    backend = entry.backend("10.0.0.1")
    assert backend.to_json() == {"host": "10.0.0.1", "port": "8080", "name": "i-1",
                                 "labels": {"az": "b"}}  # fmt: skip
    assert backend.weight is None and backend.haproxy_server_options is None
    assert dns_server(Backend("b.test", 81)).name is None  # no name: Ruby's nil


class FakeZookeeper:
    """A ZooKeeper discovery whose answers the test sets."""

    def __init__(self, service, context):
        self.nodes: tuple[Backend, ...] = ()
        self.settled = False
        self.connected = True
        self.invalid, self.reads = 3, 4

    def handle(self, event: object) -> Touched:
        return Touched.LISTING if event == "listing" else Touched.NOTHING

    def ready(self) -> bool:
        return self.settled

    def backends(self) -> tuple[Backend, ...]:
        return self.nodes

    def healthy(self) -> bool:
        return self.connected

    def start(self) -> None: ...
    def stop(self) -> None: ...


class RecordingPoller:
    def __init__(self):
        self.handed: list[tuple[DnsServer, ...]] = []
        self.healthy = True
        self.stopped = False
        self.lookup = SimpleNamespace(invalid=2)  # entries whose backend failed validation

    def set_servers(self, servers):
        self.handed.append(servers)

    def stop(self):
        self.stopped = True


class FakeZookeeperDns(ZookeeperDnsDiscovery):
    zookeeper = FakeZookeeper  # type: ignore[assignment]


@pytest.fixture
def zkdns(tmp_path):
    svc = load(tmp_path, {"method": "zookeeper_dns", **ZK}).service("web")
    found = FakeZookeeperDns(svc, DiscoveryContext(load(tmp_path, {"method": "base"}),
                                                   queue.Queue()))  # fmt: skip
    found.poller = RecordingPoller()  # type: ignore[assignment]
    return found


def test_zookeeper_dns_hands_over_each_new_complete_membership(zkdns):
    zk, poller = zkdns.zk, zkdns.poller
    zk.nodes = (Backend("a.test", 80, "i-1"),)
    assert zkdns.handle("listing") == Touched.NOTHING and poller.handed == []  # not ready yet
    zk.settled = True
    zkdns.handle("listing")
    assert poller.handed == [(DnsServer("a.test", 80, "i-1", "null"),)]
    zkdns.handle("listing")  # the same nodes: nothing new to resolve
    zkdns.handle("bookkeeping")
    assert len(poller.handed) == 1
    zk.nodes = ()
    zkdns.handle("listing")  # empty: resolved to an empty membership (use_previous_backends)
    assert poller.handed[-1] == ()
    assert not zkdns.ready() and (zkdns.invalid, zkdns.reads) == (3 + 2, 4)


def test_zookeeper_dns_serves_what_its_poller_resolved(zkdns):
    resolved = (Backend("10.0.0.1", 80, "i-1"), Backend("10.0.0.2", 80, "i-1"))
    assert zkdns.handle(Membership("web", resolved)) == Touched.LISTING
    assert zkdns.ready() and zkdns.backends() == resolved
    assert zkdns.handle(Membership("web", resolved)) == Touched.NOTHING  # unchanged


def test_zookeeper_dns_is_healthy_when_both_sources_answer(zkdns):
    assert zkdns.healthy()
    zkdns.poller.healthy = False
    assert not zkdns.healthy()
    zkdns.poller.healthy, zkdns.zk.connected = True, False
    assert not zkdns.healthy()
    zkdns.stop()
    assert zkdns.poller.stopped


def test_the_poll_variant_finds_nodes_with_zookeeper_poll():
    from synapse_py.discovery.zookeeper_poll import ZookeeperPollDiscovery

    assert ZookeeperDnsPollDiscovery.zookeeper is ZookeeperPollDiscovery
    assert ZookeeperDnsDiscovery.zookeeper.watches


def test_dns_is_healthy_until_a_round_fails(tmp_path):
    section = {"method": "dns", "servers": [{**ENTRY, "host": "192.0.2.1"}],
               "nameserver": "127.0.0.1:9"}  # fmt: skip
    svc = load(tmp_path, section).service("web")
    context = DiscoveryContext(load(tmp_path, {"method": "base"}), queue.Queue())
    found = DnsDiscovery(svc, context)
    found.start()
    try:
        membership = context.events.get(timeout=5)  # an IP address needs no lookup
        assert [b.key for b in membership.backends] == ["192.0.2.1:8080"]
        assert found.handle(membership) == Touched.LISTING and found.healthy()
    finally:
        found.stop()
