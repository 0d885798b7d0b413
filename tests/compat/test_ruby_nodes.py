"""Registry nodes Ruby synapse 0.18.9 accepts are accepted (ruby-reference s01, s07, s10, s16,
s17 and options strings from real fleets), and what stays refused."""

from __future__ import annotations

import json

import pytest
from support import ruby_nodes
from support.nerve_service import nerve_service

from nerve_py.registration import registration_for
from synapse_py.backend import InvalidNode, decode_node
from synapse_py.config import DiscoveryConfig, ServiceConfig
from synapse_py.discovery.zookeeper_members import ServiceMembers

# haproxy_server_options as fleets publish them (HAProxy 2.6 server keywords). The first seven
# were skipped before issue 12 (the node dropped whole); the last seven were already accepted.
FLEET_OPTIONS = [
    "cookie abc",  # what nerve-py itself publishes for `haproxy_server_options: cookie abc`
    "ssl verify required ca-file /etc/ssl/certs/ca-certificates.crt",
    "ssl verify required check-sni api.internal.example.com sni str(api.internal.example.com)",
    "ssl alpn h2,http/1.1",
    "proto h2",
    "check on-marked-down shutdown-sessions",
    "track be_web/web1",
    "check inter 2s rise 3 fall 2",
    "backup",
    "ssl verify none",
    "send-proxy-v2 check-send-proxy",
    "maxconn 100 weight 10",
    "check port 8081 inter 5s fastinter 1s downinter 10s",
    "resolvers dns1 resolve-prefer ipv4 init-addr last,libc,none",
]


def node(**fields) -> bytes:
    return json.dumps({"host": "10.0.0.1", "port": 8080, "name": "i-1", **fields}).encode()


@pytest.mark.parametrize("options", FLEET_OPTIONS)
def test_fleet_server_options_are_accepted(options):
    backend = decode_node("i-1_0000000001", node(haproxy_server_options=options))
    assert backend.haproxy_server_options == options


def test_a_node_nerve_py_publishes_with_a_cookie_is_served():
    reg = registration_for(nerve_service(haproxy_server_options="cookie abc"))
    backend = decode_node(reg.prefix + "0000000003", reg.payload)
    assert backend.haproxy_server_options == "cookie abc"


@pytest.mark.parametrize(
    "options",
    [
        "check\nserver evil 6.6.6.6:80",
        "check # all good",
        "check\x07",
        "cookie 'x'",
        "check backend evil",
        "crt /etc/ssl/private/key.pem",
        "disabled",
        "ca-file /etc/shadow",
    ],
)
def test_what_could_inject_or_leak_stays_refused(options):
    with pytest.raises(InvalidNode):
        decode_node("i-1_0000000001", node(haproxy_server_options=options))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": ...}, ("", None)),  # s01: no name; Ruby names the server host:port
        ({"name": ""}, ("", "")),  # s10: the empty string
        ({"port": "8080"}, (8080, "8080")),  # s16: a digit string stays one in file_output
        ({"weight": "7"}, (None, "7")),  # s02: not an integer, so not applied
        ({"weight": 2.5}, (None, 2.5)),
        ({"weight": 300}, (256, 300)),  # above HAProxy's 256: clamped (warned once)
    ],
)
def test_ruby_accepted_fields(fields, expected):
    d = json.loads(node())
    d.update(fields)
    d = {k: v for k, v in d.items() if v is not ...}
    key = next(iter(fields))
    b = decode_node("i-1_0000000001", json.dumps(d).encode())
    ours = {"name": b.name, "port": b.port, "weight": b.weight}[key]
    assert (ours, b.to_json()[key]) == expected


def test_s16_child_decoding_rules():
    listing = ruby_nodes.children("s16_child_decoding", "/ref/s16_child_decoding/dec")
    by_node = {b.node: b for b in ruby_nodes.discovered(dec_service(), listing)}
    assert by_node["base64_garbage_0000000002"].name == "bad-prefix-fallback"
    assert by_node["base64_12_!!notbase64!_0000000003"].name == "bad-b64-fallback"
    encoded = [b for n, b in by_node.items() if n.startswith("base64_72_")]
    assert encoded[0].host == "10.0.6.2"  # the name wins over the data
    assert by_node["noseq"].id is None and by_node["noseq"].to_json()["id"] is None
    assert by_node["fixedid_0000000010"].haproxy_server_options == "id 2 backup"
    assert "extra_key" not in by_node["extra_0000000007"].to_json()
    assert by_node["utf8_0000000011"].labels == (("city", "Zürich"),)
    assert "Zürich" in by_node["utf8_0000000011"].record
    assert "dup-a_0000000012" not in by_node  # one per host:port: the newest (see KNOWN)


def test_s17_a_child_whose_data_is_not_json_is_skipped_and_counted():
    """Ruby logs "skip child due to invalid data", then crashes (a bug): we serve the rest."""
    listing = ruby_nodes.children("s17_invalid_child_data", "/ref/s17_invalid_child_data/bad")
    members = ServiceMembers(dec_service())
    data = dict(listing)
    found = members.backends(tuple(data), lambda names: [(n, data[n], None) for n in names])
    assert [b.name for b in found] == ["i-aaa"] and members.invalid == 1


def dec_service() -> ServiceConfig:
    return ServiceConfig("dec", DiscoveryConfig("zookeeper", ("z:1",), "/dec"))
