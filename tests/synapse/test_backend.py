"""The reader side of the znode contract: decoding, validation, label filters."""

from __future__ import annotations

import base64
import json

import pytest

from synapse_py.backend import (
    Backend,
    InvalidNode,
    backend_from_dict,
    decode_node,
    is_ip_literal,
    name_payload,
    numeric_id,
)
from synapse_py.desired import matches_label_filters

GOOD = {"host": "10.0.0.1", "port": 8080, "name": "i-1a"}


def data(**changes: object) -> bytes:
    """A registration with some fields changed (a value of ... removes the field)."""
    d = {**GOOD, **changes}
    return json.dumps({k: v for k, v in d.items() if v is not ...}).encode()


def encoded_name(payload: dict | str, seq: str = "0000000007") -> str:
    """A child name as Ruby nerve writes it with `use_path_encoding`."""
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    enc = base64.urlsafe_b64encode(raw.encode()).decode()
    return f"base64_{len(enc)}_{enc}_{seq}"


def test_plain_node_decodes_all_fields():
    raw = data(weight=10, haproxy_server_options="check inter 2s", labels={"az": "a"})
    b = decode_node("i-1a_0000000007", raw)
    assert (b.host, b.port, b.name, b.weight) == ("10.0.0.1", 8080, "i-1a", 10)
    assert b.haproxy_server_options == "check inter 2s"
    assert b.labels == (("az", "a"),)
    assert b.node == "i-1a_0000000007"


def fields(b: Backend) -> tuple:
    return (b.host, b.port, b.name, b.weight, b.haproxy_server_options, b.labels)


def test_unknown_keys_are_ignored_and_null_optionals_accepted():
    b = decode_node("x_1", data(extra={"a": 1}, weight=None, labels=None))
    assert fields(b) == fields(Backend("10.0.0.1", 8080, "i-1a"))
    assert "extra" not in b.to_json()


def test_path_encoded_node_needs_no_data():
    b = decode_node(encoded_name(GOOD), None)
    assert fields(b) == fields(Backend("10.0.0.1", 8080, "i-1a"))


def test_path_encoded_name_without_padding_and_underscores_in_payload():
    payload = {**GOOD, "labels": {"k": "~~~??>>>"}}  # urlsafe b64 of this holds '_' and '-'
    enc = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    b = decode_node(f"base64_{len(enc)}_{enc}_0000000001", None)
    assert b.labels == (("k", "~~~??>>>"),)


def test_name_payload_and_numeric_id():
    assert name_payload("i-1a_0000000007") is None
    assert name_payload(encoded_name(GOOD, seq="")) == GOOD
    assert numeric_id("i-1a_0000000007") == 7
    assert numeric_id("my_host_0000000012") == 12
    assert numeric_id("plain") is None
    assert numeric_id("host-a_") is None  # ephemeral: Ruby's split drops the empty suffix
    assert numeric_id(encoded_name(GOOD, seq="0000000003")) == 3


def test_plain_node_without_data_is_invalid():
    with pytest.raises(InvalidNode):
        decode_node("i-1a_0000000007", None)


@pytest.mark.parametrize(
    "name",
    [
        "base64_10_abc_1",  # shorter than its length
        "base64_4_ab!d_1",  # not base64
        "base64_4_YWJj_x1",  # sequence not digits
        "base64_garbage_0000000002",  # no length
        encoded_name("[1, 2]"),
        encoded_name("not json"),
    ],
)
def test_bad_path_encoded_names_fall_back_to_the_data(name):
    assert decode_node(name, data(name="from-data")).name == "from-data"
    with pytest.raises(InvalidNode):
        decode_node(name, None)


@pytest.mark.parametrize(
    "host",
    ["10.0.0.1", "::1", "2001:db8::1", "web-1.example.com", "localhost", "a" * 63, "svc.example."],
)
def test_good_hosts(host):
    assert decode_node("n_1", data(host=host)).host == host


HOSTILE_HOSTS = [
    "",
    " 10.0.0.1",
    "10.0.0.1 ",
    "10.0.0.1\n",
    "10.0.0.1\nbackend evil",
    "10.0.0.1:80",
    "10.0.0.1 check",
    "host#x",
    "host backup",
    "fe80::1%eth0",
    "fe80::1%eth0\nbackend evil",
    "-leading.example.com",
    "trailing-.example.com",
    "a..b",
    "a" * 64,
    ".".join(["a" * 60] * 5),
    "1.2.3",
    "010.0.0.1",
    "ex\u0430mple.com",  # Cyrillic a
    "１０.0.0.1",  # fullwidth digits
    "host\x00",
    "host\t",
    '"host"',
    "ho_st",
    80,
    None,
    ["10.0.0.1"],
]


def test_a_path_encoded_name_that_decodes_wins_over_the_data():
    child = encoded_name({"host": "evil\n backend x", "port": 80, "name": "a"})
    with pytest.raises(InvalidNode):
        decode_node(child, data())
    assert decode_node(encoded_name(GOOD), data(name="other")).name == "i-1a"


HOSTILE_NAMES = [
    "a b",
    "a\nbackend evil",
    "a\n backend evil",
    "a#b",
    "a;b",
    "a/b",
    "i-1a\r",
    "n\u0430me",
    "x" * 256,
    '"q"',
    "a\tb",
    7,
    {},
]

HOSTILE_PORTS = [0, 70000, -1, 65536, "0", "65536", " 80", "80a", "", True, 80.0, None, [80], 1e3]

HOSTILE_OPTIONS = [
    "check\nbackend evil",
    "check\n backend evil",
    "check # comment",
    "check; rm -rf /",
    'check sni "x"',
    "check 'x'",
    "check\tinter 2s",
    "check\x00",
    "disabled",
    "ca-file /etc/passwd",
    "ca-file ../ca.pem",
    "ca-file /etc/../shadow.pem",
    "crt /etc/ssl/private/key.pem",
    "enabled",
    "cookie a=b;c",
    "track a/b/c",
    "redir javascript:x",
    "on-marked-down kill",
    "alpn h2 http/1.1",
    "proto h2 h1",
    "check-sni evil\\x",
    "%{host}",
    "sni %{nope}",
    "namespace other",
    "source 0.0.0.0 usesrc clientip",
    "shard 1",  # HAProxy 2.7+
    "curves X25519",  # not a 2.6 server keyword
    "inter",
    "inter 2 s",
    "inter forever",
    "rise 0",
    "rise x",
    "weight 300",
    "port 0",
    "port 70000",
    "verify maybe",
    "observe layer9",
    "check backend evil",
    "init-addr last,evil",
    "sni str(a b)",
    "check " * 200,
    "chеck",  # Cyrillic e
    7,
    True,
    ["check"],
]


BAD_WEIGHTS = [-1, True, {}, [5], "5" * 40]
HOSTILE_FIELDS = [
    (field, value)
    for field, values in [
        ("host", HOSTILE_HOSTS),
        ("name", HOSTILE_NAMES),
        ("port", HOSTILE_PORTS),
        ("weight", BAD_WEIGHTS),
        ("haproxy_server_options", HOSTILE_OPTIONS),
    ]
    for value in values
]


@pytest.mark.parametrize(("field", "value"), HOSTILE_FIELDS)
def test_hostile_field_rejects_the_node(field, value):
    with pytest.raises(InvalidNode):
        decode_node("n_1", data(**{field: value}))


@pytest.mark.parametrize(
    "options",
    [
        "check",
        "check inter 2000 rise 3 fall 2",
        "check inter 2s fastinter 500ms downinter 1m",
        "backup maxconn 100 maxqueue 10 slowstart 30s weight 5",
        "send-proxy-v2 ssl verify none sni str(api.example.com)",
        "check-ssl port 8443 observe layer7 on-error mark-down error-limit 5",
        "agent-check agent-port 9000 agent-inter 5s",
        "resolvers dns1 resolve-prefer ipv4 init-addr last,libc,none,10.0.0.9",
        "cookie abc",
        "id 2 backup",
        "track be_web/web1 on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions",
        "ssl verify required ca-file /etc/ssl/certs/ca-certificates.crt check-sni db.internal",
        "ssl ca-file @system-ca crl-file /etc/haproxy/crl.pem verifyhost api.example.com",
        "ssl alpn h2,http/1.1 check-alpn http/1.1 ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3",
        "proto h2 ws h1 pool-max-conn 100 pool-purge-delay 5s max-reuse -1",
        "ciphers ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256 no-tls-tickets",
        "sni req.hdr(host),lower addr 10.0.0.9 agent-addr 10.0.0.10 socks4 10.0.0.11:1080",
        "redir http://%{host}:%{port} sni str(%{name})",
        "resolve-net 10.0.0.0/8,fd00::/8 resolve-opts allow-dup-ip tcp-ut 30s",
    ],
)
def test_allowed_server_options(options):
    assert (
        decode_node("n_1", data(haproxy_server_options=options)).haproxy_server_options == options
    )


def test_server_options_are_normalised_and_empty_means_none():
    b = decode_node("n_1", data(haproxy_server_options="check   inter 2s"))
    assert b.haproxy_server_options == "check inter 2s"
    assert decode_node("n_1", data(haproxy_server_options="")).haproxy_server_options is None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe{}",
        '{"host": "10.0.0.1", "port": 80, "name": "caf\u00e9"}'.encode("latin-1"),
        b"[1, 2, 3]",
        b'"a string"',
        b"null",
        b"42",
        b'{"host": "10.0.0.1", "port": NaN, "name": "a"}',
        b'{"host": "10.0.0.1", "port": 80, "name": "a", "host": "evil"}',
        b"[" * 60000,  # deep nesting under the size limit
        b'{"host": "10.0.0.1", "port": 80, "name": "' + b"a" * 70000 + b'"}',
        data(host=...),
        data(port=...),
    ],
)
def test_hostile_data_is_rejected(raw):
    with pytest.raises(InvalidNode):
        decode_node("n_1", raw)


@pytest.mark.parametrize(
    "labels",
    [["a"], "a", {"a": [1]}, {"a": {"b": 1}}, {"": "x"}, {"k" * 200: "v"}, {"k": "v" * 600}]
    + [{str(i): "v" for i in range(65)}],
)
def test_bad_labels_are_rejected(labels):
    with pytest.raises(InvalidNode):
        decode_node("n_1", data(labels=labels))


def test_invalid_node_reasons_are_short_and_quote_no_payload():
    with pytest.raises(InvalidNode) as e:
        decode_node("n_1", data(host="evil\nbackend x" * 100))
    assert "\n" not in str(e.value) and len(str(e.value)) < 120


def test_backend_from_dict_round_trips_to_json():
    b = backend_from_dict({**GOOD, "weight": 3, "labels": {"z": "1", "a": "2"}})
    assert backend_from_dict(b.to_json()) == b
    assert list(b.to_json()["labels"]) == ["z", "a"]


def test_ruby_accepted_values_are_kept_raw_in_the_record():
    raw = data(port="8080", weight="7", name=None, labels={"n": 1, "b": True, "s": "x", "z": None})
    b = decode_node("i-1a_0000000042", raw)
    assert (b.port, b.weight, b.name, b.labels, b.id) == (8080, None, "", (("s", "x"),), 42)
    assert b.record == (
        '{"name":null,"host":"10.0.0.1","port":"8080","id":42,"weight":"7",'
        '"haproxy_server_options":null,"labels":{"n":1,"b":true,"s":"x","z":null}}'
    )


def test_a_float_weight_is_kept_but_not_applied_and_a_huge_one_is_clamped(caplog):
    assert decode_node("n_1", data(weight=2.5)).weight is None
    assert decode_node("n_1", data(weight=2.5)).to_json()["weight"] == 2.5
    b = decode_node("n_1", data(weight=1000))
    assert b.weight == 256 and b.to_json()["weight"] == 1000
    decode_node("n_2", data(weight=1000))
    assert sum("above HAProxy" in r.message for r in caplog.records) == 1


LABELLED = Backend("10.0.0.1", 80, "a", labels=(("az", "us-1a"), ("tier", "web")))


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ((), True),
        (({"label": "az", "value": "us-1a", "condition": "equals"},), True),
        (({"label": "az", "value": "us-1b", "condition": "equals"},), False),
        (({"label": "az", "value": "us-1b", "condition": "not-equals"},), True),
        (({"label": "az", "value": "us-1a", "condition": "not-equals"},), False),
        (({"label": "nope", "value": "x", "condition": "not-equals"},), True),
        (({"label": "nope", "value": "x", "condition": "equals"},), False),
        (
            (
                {"label": "az", "value": "us-1a", "condition": "equals"},
                {"label": "tier", "value": "db", "condition": "equals"},
            ),
            False,
        ),
    ],
)
def test_label_filters(filters, expected):
    assert matches_label_filters(LABELLED, filters) is expected


def test_one_ip_literal_check_scope_ids_only_in_server_options():
    # backend.is_ip_literal is server_options.is_ip_literal: a registry host may not carry an
    # IPv6 scope id, the address of a server option (`addr`, `init-addr`) may
    assert is_ip_literal("fe80::1") and not is_ip_literal("fe80::1%eth0")
    assert is_ip_literal("fe80::1%eth0", scope_id=True)
    assert not is_ip_literal("fe80::1%eth0 x", scope_id=True) and not is_ip_literal(" ::1")
    options = "addr fe80::1%eth0 init-addr last,fe80::2%eth0"
    assert decode_node("n_1", data(haproxy_server_options=options)).haproxy_server_options


def test_a_bad_name_is_said_in_words_not_as_a_regular_expression():
    # today: "name must match [A-Za-z0-9_.:-]{1,255}"
    with pytest.raises(
        InvalidNode, match=r"^name must be 1 to 255 letters, digits, _ \. : and - only$"
    ):
        backend_from_dict({"host": "10.0.0.1", "port": 80, "name": "a b"})
