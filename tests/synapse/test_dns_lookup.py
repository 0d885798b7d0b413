"""The dns method's config parsing (no server needed; lookups are in tests/integration)."""

from __future__ import annotations

import json
import logging

import pytest

from synapse_py.dns_lookup import DnsLookup, parse_nameserver, parse_servers


def test_servers_keep_ruby_raw_values():
    entries = [{"name": "web", "host": "web.test", "port": "8080", "labels": {"az": "a"}}]
    (server,) = parse_servers(entries)
    backend = server.backend("10.0.0.1")
    assert (backend.host, backend.port, backend.name) == ("10.0.0.1", 8080, "web")
    assert backend.labels == (("az", "a"),)
    # file_output writes the hash Ruby's watcher builds: these keys, this order, raw values
    assert json.loads(backend.record) == {
        "host": "10.0.0.1",
        "port": "8080",
        "name": "web",
        "labels": {"az": "a"},
    }
    assert list(json.loads(backend.record)) == ["host", "port", "name", "labels"]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], "non-empty list"),
        ({"host": "a.test"}, "non-empty list"),
        ([{"port": 80}], r"servers\[0\].host"),
        ([{"host": "a.test", "port": 80}, {"host": "b.test"}], r"servers\[1\]: port"),
        ([{"host": "a.test", "port": 0}], "port"),
        ([{"host": "a b", "port": 80}], "host"),
        ([{"host": "a.test", "port": 80, "name": "x y"}], "name"),
        ([{"host": "a.test", "port": 80, "labels": ["x"]}], "labels"),
        ([7], r"servers\[0\]: must be an object"),
    ],
)
def test_bad_servers_are_refused_naming_the_entry(entries, message):
    with pytest.raises(ValueError, match=message):
        parse_servers(entries)


def test_a_string_entry_gives_no_backends_with_a_warning(caplog):
    # Ruby's examples (hostheader_test.json) list bare names; Ruby reads host and port from them
    # as from a hash and resolves nothing
    with caplog.at_level(logging.WARNING):
        assert parse_servers(["0.www.example.com", "1.www.example.com"]) == ()
    assert "0.www.example.com" in caplog.text


def test_an_ip_address_host_is_its_own_address():
    servers = parse_servers([{"name": "ip", "host": "192.0.2.7", "port": 81}])
    lookup = DnsLookup(servers, parse_nameserver("127.0.0.1:1"), timeout=0.5)
    assert [b.key for b in lookup.resolve()] == ["192.0.2.7:81"]
    assert lookup.healthy


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ()),
        ("10.1.1.13", (("10.1.1.13", 53),)),
        ("127.0.0.1:5353", (("127.0.0.1", 5353),)),
        ("::1", (("::1", 53),)),
        ("[::1]:5353", (("::1", 5353),)),
        ("ns.example.com", (("ns.example.com", 53),)),
        (["10.0.0.1", "10.0.0.2:54"], (("10.0.0.1", 53), ("10.0.0.2", 54))),
    ],
)
def test_nameserver_is_a_host_or_host_port(value, expected):
    assert parse_nameserver(value) == expected


@pytest.mark.parametrize("value", ["", "127.0.0.1:0", "127.0.0.1:dns", "a b", 53, [], ["x", 1]])
def test_bad_nameservers_are_refused(value):
    with pytest.raises(ValueError, match="nameserver"):
        parse_nameserver(value)
