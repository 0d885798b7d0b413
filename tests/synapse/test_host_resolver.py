"""HostResolver with an injected lookup: last addresses survive a DNS outage, recoveries wake."""

from __future__ import annotations

import logging
import threading

import pytest
from support.procs import wait_for

from synapse_py.generators.resolve import HostResolver


class FakeDns:
    """name -> address; a name not in the zone fails as getaddrinfo would."""

    def __init__(self, **zone: str):
        self.zone = dict(zone)
        self.lookups = 0

    def __call__(self, host: str) -> str:
        self.lookups += 1
        if host not in self.zone:
            raise OSError(f"{host}: Name or service not known")
        return self.zone[host]


@pytest.fixture
def make():
    made: list[HostResolver] = []

    def build(dns: FakeDns, **kwargs) -> HostResolver:
        made.append(HostResolver(1.0, lookup=dns, refresh=0.05, **kwargs))
        return made[-1]

    yield build
    for r in made:
        r.close()


def test_a_resolved_host_keeps_its_address_while_dns_fails(make, caplog):
    dns = FakeDns(web="10.0.0.1")
    resolver = make(dns)
    assert resolver.resolve_all(["web", "10.0.0.9"]) == {"web": "10.0.0.1", "10.0.0.9": "10.0.0.9"}
    del dns.zone["web"]
    wait_for(lambda: "no longer resolves" in caplog.text, 5, message="failure noticed")
    for _ in range(20):
        assert resolver.resolve_all(["web"]) == {"web": "10.0.0.1"}
    wait_for(lambda: dns.lookups > 10, 5, message="still retried in the background")
    assert caplog.text.count("'web' no longer resolves") == 1 and resolver.failures == 1


def test_a_host_that_resolves_later_wakes_the_generator(make, caplog):
    caplog.set_level(logging.INFO)
    woken = threading.Event()
    dns = FakeDns()
    resolver = make(dns, on_change=woken.set)
    for _ in range(5):
        assert resolver.resolve_all(["late"]) == {"late": None}
    assert caplog.text.count("'late' did not resolve") == 1
    dns.zone["late"] = "10.0.0.2"
    assert woken.wait(5)
    assert resolver.resolve_all(["late"]) == {"late": "10.0.0.2"}
    assert caplog.text.count("'late' resolves again") == 1


def test_a_changed_address_wakes_and_retained_hosts_only_are_refreshed(make):
    woken = threading.Event()
    dns = FakeDns(a="10.0.0.1", gone="10.0.0.3")
    resolver = make(dns, on_change=woken.set)
    resolver.resolve_all(["a", "gone"])
    resolver.retain(["a"])
    dns.zone["a"] = "10.0.0.5"
    assert woken.wait(5) and resolver.resolve_all(["a"]) == {"a": "10.0.0.5"}
    del dns.zone["gone"]
    before = dns.lookups
    wait_for(lambda: dns.lookups > before + 5, 5, message="refreshing")
    assert resolver.failures == 0  # "gone" is no longer asked for
