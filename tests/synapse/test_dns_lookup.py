"""The dns methods' config parsing (no server needed; lookups are in tests/integration)."""

from __future__ import annotations

import json
import logging

import pytest

from synapse_py.discovery.dns import dns_settings
from synapse_py.discovery.dns_lookup import (
    DnsLookup,
    DnsServer,
    host_has_ipv6,
    parse_nameserver,
    parse_servers,
)


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
        ([{"port": 80}], r"servers\.0\.host"),
        ([{"host": "a.test", "port": 80}, {"host": "b.test"}], r"servers\.1: port"),
        ([{"host": "a.test", "port": 0}], "port"),
        ([{"host": "a b", "port": 80}], "host"),
        ([{"host": "a.test", "port": 80, "name": "x y"}], "name"),
        ([{"host": "a.test", "port": 80, "labels": ["x"]}], "labels"),
        ([7], r"servers\.0: must be an object"),
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
    warnings: list[str] = []
    assert parse_servers(["a.test", {"host": "b.test", "port": 1}], warnings=warnings) != ()
    assert warnings == ["servers.0: 'a.test' is a string, not {host, port}: no backends"]


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


def test_dns_settings_read_ruby_keys_and_defaults():
    settings = dns_settings({"method": "dns", "servers": [{"host": "a.test", "port": 80}]})
    assert settings.check_interval == 30.0 and settings.nameserver == ()
    assert [s.host for s in settings.servers] == ["a.test"] and settings.warnings == ()
    settings = dns_settings(
        {"servers": [{"host": "a.test", "port": 80}], "nameserver": "10.0.0.2", "check_interval": 5}
    )
    assert settings.nameserver == (("10.0.0.2", 53),) and settings.check_interval == 5.0


@pytest.mark.parametrize(
    ("discovery", "message"),
    [
        ({"servers": [{"host": "a.test", "port": 80}], "nameserver": "x:0"}, "^nameserver"),
        ({"servers": [{"host": "a.test"}]}, r"^servers\.0: port"),
    ],
)
def test_dns_settings_errors_name_the_key(discovery, message):
    with pytest.raises(ValueError, match=message):
        dns_settings(discovery)


def test_the_ruby_examples_dns_discovery_validates():
    # hostheader_test.json and synapse_services/service1.json: bare names, a nameserver host
    discovery = {
        "method": "dns",
        "nameserver": "127.0.0.1",
        "servers": ["0.www.example.com", "1.www.example.com"],
    }
    settings = dns_settings(discovery)
    assert settings.servers == () and settings.nameserver == (("127.0.0.1", 53),)
    assert len(settings.warnings) == 2


def test_aaaa_is_asked_for_as_ruby_decides(tmp_path):
    proc = tmp_path / "if_inet6"
    loopback_and_link = (
        "00000000000000000000000000000001 01 80 10 80       lo\n"
        "fe80000000000000021122fffe334455 02 40 20 80     eth0\n"
    )
    proc.write_text(loopback_and_link)
    assert not host_has_ipv6(str(proc))
    proc.write_text(loopback_and_link + "fd000000000000000000000000000001 02 40 00 80     eth0\n")
    assert host_has_ipv6(str(proc))
    assert not host_has_ipv6(str(tmp_path / "none"))


def test_an_entry_whose_backend_fails_validation_is_skipped_logged_and_counted(caplog):
    # a zookeeper_dns entry comes from a registry node: untrusted, like the answers
    servers = (DnsServer("192.0.2.1", 80, "bad name", "null"), DnsServer("192.0.2.2", 80, "ok"))
    lookup = DnsLookup(servers, parse_nameserver("127.0.0.1:1"), timeout=0.5)
    for _ in range(2):
        assert [b.key for b in lookup.resolve()] == ["192.0.2.2:80"]
    assert lookup.invalid == 1 and caplog.text.count("skipped") == 1
