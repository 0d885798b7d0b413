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
    matches_label_filters,
    parse_child_name,
)

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


def test_unknown_keys_are_ignored_and_null_optionals_accepted():
    b = decode_node("x_1", data(extra={"a": 1}, weight=None, labels=None))
    assert b == Backend("10.0.0.1", 8080, "i-1a")


def test_path_encoded_node_needs_no_data():
    b = decode_node(encoded_name(GOOD), None)
    assert b == Backend("10.0.0.1", 8080, "i-1a")


def test_path_encoded_name_without_padding_and_underscores_in_payload():
    payload = {**GOOD, "labels": {"k": "~~~??>>>"}}  # urlsafe b64 of this holds '_' and '-'
    enc = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    b = decode_node(f"base64_{len(enc)}_{enc}_0000000001", None)
    assert b.labels == (("k", "~~~??>>>"),)


def test_parse_child_name_forms():
    assert parse_child_name("i-1a_0000000007") == ("i-1a", None, "0000000007")
    assert parse_child_name("my_host_0000000007") == ("my_host", None, "0000000007")
    assert parse_child_name("plain") == ("plain", None, "")
    parsed = parse_child_name(encoded_name(GOOD, seq=""))
    assert parsed.payload == GOOD and parsed.sequence == ""


def test_plain_node_without_data_is_invalid():
    with pytest.raises(InvalidNode):
        decode_node("i-1a_0000000007", None)


@pytest.mark.parametrize(
    "name",
    [
        "base64_10_abc_1",  # shorter than its length
        "base64_4_ab!d_1",  # not base64
        "base64_4_YWJj_x1",  # sequence not digits
        encoded_name("[1, 2]"),
        encoded_name("not json"),
        encoded_name({"host": "evil\n backend x", "port": 80, "name": "a"}),
    ],
)
def test_bad_path_encoded_names_are_invalid(name):
    with pytest.raises(InvalidNode):
        decode_node(name, data())


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

HOSTILE_NAMES = [
    "",
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
    None,
]

HOSTILE_PORTS = [0, 70000, -1, 65536, "80", True, False, 80.0, None, [80], 1e3]

HOSTILE_OPTIONS = [
    "check\nbackend evil",
    "check\n backend evil",
    "check # comment",
    "check; rm -rf /",
    'check sni "x"',
    "check 'x'",
    "check\tinter 2s",
    "check\x00",
    "cookie abc",
    "id 5",
    "track other/srv",
    "disabled",
    "ca-file /etc/passwd",
    "redir http://evil",
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


BAD_WEIGHTS = [-1, 257, True, "5", 1.5, {}]
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
        data(name=...),
    ],
)
def test_hostile_data_is_rejected(raw):
    with pytest.raises(InvalidNode):
        decode_node("n_1", raw)


@pytest.mark.parametrize(
    "labels",
    [["a"], {"a": 1}, {"a": None}, {"": "x"}, {"k" * 200: "v"}, {"k": "v" * 600}]
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
    assert b.to_json()["labels"] == {"a": "2", "z": "1"}


LABELLED = Backend("10.0.0.1", 80, "a", labels=(("az", "us-1a"), ("tier", "web")))


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ((), True),
        (({"label": "az", "value": "us-1a", "condition": "equals"},), True),
        (({"label": "az", "value": "us-1a"},), True),
        (({"label": "az", "value": "us-1b", "condition": "equals"},), False),
        (({"label": "az", "value": "us-1b", "condition": "not-equals"},), True),
        (({"label": "az", "value": "us-1a", "condition": "not-equals"},), False),
        (({"label": "nope", "value": "x", "condition": "not-equals"},), True),
        (({"label": "nope", "value": "x"},), False),
        (({"label": "az", "value": "us-1a"}, {"label": "tier", "value": "db"}), False),
    ],
)
def test_label_filters(filters, expected):
    assert matches_label_filters(LABELLED, filters) is expected
