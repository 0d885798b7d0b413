"""The znode format pinned from both sides: what nerve_py writes, synapse_py (and Ruby) reads.

Tests may import both packages; the packages never import each other.
"""

from __future__ import annotations

import base64

import pytest
from support.nerve_service import nerve_service as service

from nerve_py.registration import registration_for
from synapse_py.backend import InvalidNode, decode_node

# A node exactly as Airbnb's Ruby nerve writes it (plain form, ephemeral_sequential).
RUBY_CHILD = "i-0abc_0000000042"
RUBY_DATA = b'{"host":"10.1.2.3","port":8080,"name":"i-0abc","weight":3}'


def test_ruby_nerve_node_is_read_by_synapse():
    b = decode_node(RUBY_CHILD, RUBY_DATA)
    assert (b.host, b.port, b.name, b.weight) == ("10.1.2.3", 8080, "i-0abc", 3)


def test_plain_form_pinned():
    reg = registration_for(service(weight=3))
    assert reg.path_prefix == "/nerve/services/web/services/i-0abc_"
    assert reg.ephemeral and reg.sequence
    assert reg.payload == RUBY_DATA  # byte for byte what Ruby nerve writes


def test_payload_bytes_pinned_as_ruby_writes_them():
    """Compact, raw UTF-8, Ruby's key order, labels in config order, empty values kept."""
    reg = registration_for(
        service(
            port_string="8080",
            haproxy_server_options="",
            labels=(("zone", "Zürich"), ("az", 'a"\\/<>&'), ("n", 1)),
        )
    )
    expected = (
        '{"host":"10.1.2.3","port":"8080","name":"i-0abc","haproxy_server_options":"",'
        '"labels":{"zone":"Zürich","az":"a\\"\\\\/<>&","n":1}}'
    )
    assert reg.payload == expected.encode()
    assert registration_for(service(labels=())).payload.endswith(b',"labels":{}}')


def test_label_numbers_as_ruby_writes_them():
    labels = (("a", 0.5), ("b", 1e-05), ("c", 1e16), ("d", 1e15), ("e", 3), ("f", True))
    payload = registration_for(service(labels=labels)).payload
    assert payload.endswith(
        b'"labels":{"a":0.5,"b":1.0e-05,"c":1.0e+16,"d":1000000000000000.0,"e":3,"f":true}}'
    )


@pytest.mark.parametrize("encoded", [False, True])
def test_nerve_writes_what_synapse_reads(encoded):
    svc = service(
        weight=5,
        labels=(("az", "a"),),
        haproxy_server_options="check inter 2s",
        use_path_encoding=encoded,
    )
    reg = registration_for(svc)
    child = reg.prefix + "0000000007"
    b = decode_node(child, reg.payload)
    assert (b.host, b.port, b.name, b.weight) == ("10.1.2.3", 8080, "i-0abc", 5)
    assert b.haproxy_server_options == "check inter 2s"
    assert dict(b.labels) == {"az": "a"}
    if encoded:  # decodable from the name alone, without reading the node
        assert decode_node(child, None).key == "10.1.2.3:8080"


def test_path_encoded_name_pinned():
    reg = registration_for(service(use_path_encoding=True))
    encoded = base64.urlsafe_b64encode(reg.payload).decode()
    assert reg.prefix == f"base64_{len(encoded)}_{encoded}_"


@pytest.mark.parametrize(
    "node_type, ephemeral, sequence",
    [
        ("ephemeral_sequential", True, True),
        ("ephemeral", True, False),
        ("persistent", False, False),
        ("persistent_sequential", False, True),
    ],
)
def test_node_types(node_type, ephemeral, sequence):
    reg = registration_for(service(node_type=node_type))
    assert (reg.ephemeral, reg.sequence) == (ephemeral, sequence)
    assert decode_node(reg.prefix + ("0000000001" if sequence else ""), reg.payload).port == 8080


def test_synapse_rejects_what_nerve_would_never_write():
    with pytest.raises(InvalidNode):
        decode_node(RUBY_CHILD, b'{"host":"10.1.2.3\\nbackend x","port":8080,"name":"i"}')
