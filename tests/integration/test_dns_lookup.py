"""The dns method's lookups against a real DNS server (dnsmasq on loopback, records from a hosts
file the test rewrites and dnsmasq reloads on SIGHUP)."""

from __future__ import annotations

import queue
import time

from synapse_py.discovery.dns import DnsPoller
from synapse_py.discovery.dns_lookup import DnsLookup, parse_nameserver, parse_servers

WEB = {"name": "web", "host": "web.test", "port": 8080, "labels": {"az": "a"}}
API = {"name": "api", "host": "api.test", "port": "9090"}


def lookup(server, entries=(WEB, API), **kw) -> DnsLookup:
    return DnsLookup(parse_servers(list(entries)), parse_nameserver(server.nameserver), **kw)


def keys(backends) -> list[str]:
    return [f"{b.name}_{b.key}" for b in backends]


def test_one_backend_per_address_named_as_ruby(dns_server):
    dns_server.set_hosts(
        [("10.0.0.9", "web.test"), ("10.0.0.10", "web.test"), ("10.0.1.1", "api.test")]
    )
    backends = lookup(dns_server, ipv6=False).resolve()
    # entries in their order, each one's addresses sorted as strings (Ruby's `addresses.sort`)
    assert keys(backends) == ["web_10.0.0.10:8080", "web_10.0.0.9:8080", "api_10.0.1.1:9090"]
    assert backends[0].labels == (("az", "a"),)
    assert backends[0].to_json() == {
        "host": "10.0.0.10",
        "port": 8080,
        "name": "web",
        "labels": {"az": "a"},
    }
    api = {"host": "10.0.1.1", "port": "9090", "name": "api", "labels": None}
    assert backends[2].to_json() == api


def test_aaaa_records_when_ipv6_is_in_use(dns_server):
    dns_server.set_hosts([("10.0.0.1", "web.test"), ("fd00::1", "web.test")])
    assert keys(lookup(dns_server, [WEB], ipv6=True).resolve()) == [
        "web_10.0.0.1:8080",
        "web_fd00::1:8080",
    ]
    assert keys(lookup(dns_server, [WEB], ipv6=False).resolve()) == ["web_10.0.0.1:8080"]


def test_records_follow_the_hosts_file(dns_server):
    dns_server.set_hosts([("10.0.0.1", "web.test")])
    dns = lookup(dns_server, [WEB], ipv6=False)
    assert keys(dns.resolve()) == ["web_10.0.0.1:8080"]
    dns_server.set_hosts([("10.0.0.1", "web.test"), ("10.0.0.2", "web.test")])
    assert keys(dns.resolve()) == ["web_10.0.0.1:8080", "web_10.0.0.2:8080"]
    dns_server.set_hosts([("10.0.0.2", "web.test")])
    assert keys(dns.resolve()) == ["web_10.0.0.2:8080"]


def test_a_name_that_is_gone_resolves_to_nothing(dns_server):
    # NXDOMAIN is an answer, as in Ruby: the entry's backends go (use_previous_backends decides
    # what an empty service does); the other entries are untouched
    dns_server.set_hosts([("10.0.0.1", "web.test"), ("10.0.1.1", "api.test")])
    dns = lookup(dns_server, ipv6=True)
    assert len(dns.resolve()) == 2
    dns_server.set_hosts([("10.0.1.1", "api.test")])
    assert keys(dns.resolve()) == ["api_10.0.1.1:9090"]
    assert dns.healthy and dns.failures == 0
    dns_server.set_hosts([])
    assert dns.resolve() == ()


def test_a_silent_nameserver_keeps_the_last_answer_within_the_timeout(dns_server, caplog):
    dns_server.set_hosts([("10.0.0.1", "web.test"), ("10.0.1.1", "api.test")])
    dns = lookup(dns_server, timeout=1.0, ipv6=False)
    before = dns.resolve()
    dns_server.pause()
    try:
        for _ in range(2):
            started = time.monotonic()
            assert dns.resolve() == before
            assert time.monotonic() - started < 2.0  # one round is bounded by `timeout`
        assert not dns.healthy
        assert dns.failures == 2  # once per entry and outage, not per round
    finally:
        dns_server.resume()
    dns_server.set_hosts([("10.0.0.3", "web.test"), ("10.0.1.1", "api.test")])
    assert keys(dns.resolve()) == ["web_10.0.0.3:8080", "api_10.0.1.1:9090"]
    assert dns.healthy
    assert "keeping 10.0.0.1" in caplog.text and "resolves again" in caplog.text


def test_an_entry_that_never_resolved_is_left_out_until_it_does(dns_server):
    dns_server.set_hosts([("10.0.0.1", "web.test")])
    dns = lookup(dns_server, [WEB], timeout=0.5, ipv6=False)
    dns_server.stop()  # nothing listens: the queries fail (REFUSED/ICMP or a timeout)
    assert dns.resolve() == ()
    assert not dns.healthy and dns.failures == 1


def test_a_refusing_nameserver_is_a_failure_not_an_empty_answer(dns_server):
    # dnsmasq REFUSEs names outside `.test` (no upstream): the entry keeps its last answer
    dns_server.set_hosts([("10.0.0.1", "web.test")])
    entry = {**WEB, "host": "web.example"}
    dns = lookup(dns_server, [entry], ipv6=False)
    assert dns.resolve() == ()
    assert not dns.healthy


def test_the_poller_publishes_at_start_and_on_changes_only(dns_server):
    dns_server.set_hosts([("10.0.0.1", "web.test")])
    published: queue.Queue = queue.Queue()
    poller = DnsPoller(lookup(dns_server, [WEB], timeout=1.0, ipv6=False), 0.1, published.put)
    poller.start()
    try:
        assert keys(published.get(timeout=5)) == ["web_10.0.0.1:8080"]
        time.sleep(0.5)  # several rounds, nothing changed: nothing published
        assert published.empty() and poller.healthy
        dns_server.set_hosts([("10.0.0.1", "web.test"), ("10.0.0.2", "web.test")])
        assert keys(published.get(timeout=5)) == ["web_10.0.0.1:8080", "web_10.0.0.2:8080"]
        dns_server.pause()  # failing lookups keep the last answer: nothing to publish
        time.sleep(1.5)
        assert published.empty() and not poller.healthy
        dns_server.resume()
        # web.test unchanged: nothing is published until the entries change
        dns_server.set_hosts(
            [("10.0.0.1", "web.test"), ("10.0.0.2", "web.test"), ("10.0.1.1", "api.test")]
        )
        poller.set_servers(parse_servers([API]))  # zookeeper_dns's new nodes: resolved at once
        assert keys(published.get(timeout=5)) == ["api_10.0.1.1:9090"]
    finally:
        dns_server.resume()
        poller.stop(timeout=3)
    assert not poller._thread.is_alive()


def test_names_shared_by_entries_are_asked_once_a_round(dns_server):
    dns_server.set_hosts([("10.0.0.1", "web.test")])
    other = {**WEB, "port": 8081}
    dns = lookup(dns_server, [WEB, other], ipv6=False)
    assert keys(dns.resolve()) == ["web_10.0.0.1:8080", "web_10.0.0.1:8081"]
    assert dns_server.tail().count("query[A] web.test") == 1
