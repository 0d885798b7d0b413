"""Untrusted registry data, fuzzed: random child names and payloads through the decoder and the
renderers. No exception escapes; every rendered config is valid and holds only validated values.

The example counts are bounded (hypothesis `max_examples`) so the file runs in seconds; a sample of
the HAProxy renders goes through `haproxy -c`.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synapse_py.backend import Backend, InvalidNode, decode_node, is_ip_literal
from synapse_py.config import DiscoveryConfig, HaproxyConfig, ServiceConfig, ServiceHaproxyConfig
from synapse_py.generators.haproxy.generator import HaproxyGenerator

from .corpus import INJECTIONS, RAW_PAYLOADS

HAPROXY = "/usr/sbin/haproxy"
CHECKED_RENDERS = 8  # `haproxy -c` runs: about 50 ms each
# a server line: name, address, then words of the characters server_options.py lets through
OPTION_WORD = r"[A-Za-z0-9_.,:()/%{}=+!@\[\]-]+"
SERVER_LINE = re.compile(
    r"  server [A-Za-z0-9_.:\[\]-]+ (\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):\d{1,5}"
    rf"( {OPTION_WORD})*"
)
NAME = re.compile(r"[A-Za-z0-9_.:-]{0,255}")  # "" when the node has none (Ruby: host:port)


class FakeResolver:
    """Every hostname resolves to one loopback address: no DNS traffic from a fuzz test."""

    failures = 0

    def resolve_all(self, hosts):
        return {h: h if is_ip_literal(h) else "127.0.0.2" for h in hosts}

    def retain(self, hosts) -> None:
        pass

    def close(self) -> None:
        pass


# --- strategies -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
hostile = st.sampled_from(INJECTIONS) | st.text(max_size=40)
hosts = st.one_of(
    st.ip_addresses().map(str),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z]{1,6}){0,3}", fullmatch=True),
    hostile,
    json_values,
)
ports = st.one_of(st.integers(-5, 70_000), st.sampled_from([0, 1, 80, 65535, 65536]), json_values)
names = st.one_of(st.from_regex(r"[A-Za-z0-9_.:-]{1,20}", fullmatch=True), hostile, json_values)
options = st.one_of(
    st.sampled_from(["", "check", "check inter 2s rise 3 fall 2", "weight 5 backup", "maxconn 10"]),
    hostile,
)
registrations = st.fixed_dictionaries(
    {"host": hosts, "port": ports, "name": names},
    optional={
        "weight": st.integers(-1, 300) | json_values,
        "haproxy_server_options": options | json_values,
        "labels": st.dictionaries(st.text(max_size=10), hostile | json_values, max_size=3),
        "extra": json_values,
    },
)


payloads = st.one_of(
    registrations.map(lambda d: json.dumps(d).encode()),
    registrations.map(lambda d: json.dumps(d, ensure_ascii=False).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.sampled_from(RAW_PAYLOADS),
)


def path_encoded(d: object, seq: int) -> str:
    b64 = base64.urlsafe_b64encode(json.dumps(d).encode()).decode()
    return f"base64_{len(b64)}_{b64}_{seq:010d}"


child_names = st.one_of(
    st.builds(lambda n, s: f"{n}_{s:010d}", names.map(str), st.integers(0, 10**10 - 1)),
    st.builds(path_encoded, registrations | json_values, st.integers(0, 10**10 - 1)),
    st.builds(lambda n: f"base64_{n}", st.text(max_size=60)),
    hostile,
)
nodes = st.lists(st.tuples(child_names, payloads | st.none()), max_size=6)


def decode_all(children) -> list[Backend]:
    """What the daemon does with a membership read: keep the valid nodes, skip the others."""
    backends = []
    for name, data in children:
        try:
            backends.append(decode_node(name, data))
        except InvalidNode:
            continue
    for b in backends:
        assert_validated(b)
    return backends


def assert_validated(b: Backend) -> None:
    assert isinstance(b.host, str) and re.fullmatch(r"[A-Za-z0-9.:-]{1,253}", b.host)
    assert type(b.port) is int and 1 <= b.port <= 65535
    assert NAME.fullmatch(b.name)
    assert b.weight is None or (type(b.weight) is int and 0 <= b.weight <= 256)
    opts = b.haproxy_server_options or ""
    assert re.fullmatch(rf"({OPTION_WORD}( {OPTION_WORD})*)?", opts), opts
    assert "#" not in opts and not re.search(r"[\x00-\x1f\x7f]", opts)
    assert json.loads(b.record) == b.to_json() and "\n" not in b.record  # file_output's bytes


# --- the decoder ------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(child_names, payloads | st.none())
def test_decoder_raises_only_invalid_node(name, data):
    decode_all([(name, data)])


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_corpus_in_every_field_is_refused_or_harmless(text):
    base = {"host": "10.0.0.1", "port": 80, "name": "a"}
    for field in ("host", "name", "haproxy_server_options"):
        node = {**base, field: text}
        for child, data in (("a_1", json.dumps(node).encode()), (path_encoded(node, 1), None)):
            decode_all([(child, data)])
    decode_all([(text, json.dumps(base).encode())])


@pytest.mark.parametrize("data", RAW_PAYLOADS, ids=range(len(RAW_PAYLOADS)))
def test_raw_payload_corpus_is_refused(data):
    with pytest.raises(InvalidNode):
        decode_node("a_0000000001", data)


# --- the HAProxy renderer ---------------------------------------------------------------------


def web_service(**extra) -> ServiceConfig:
    return ServiceConfig(
        name="web",
        discovery=DiscoveryConfig("zookeeper", ("127.0.0.1:2181",), "/web"),
        haproxy=ServiceHaproxyConfig(port=18080, server_options="check"),
        **extra,
    )


@pytest.fixture(scope="module")
def haproxy_gen():
    config = HaproxyConfig(
        do_writes=False,
        do_reloads=False,
        do_socket=False,
        defaults=("mode http", "timeout connect 1s", "timeout client 1s", "timeout server 1s"),
    )
    gen = HaproxyGenerator(config)
    gen._resolver = FakeResolver()
    yield gen
    gen.stop()


def test_haproxy_renders_of_fuzzed_membership_are_valid(haproxy_gen, tmp_path):
    service = web_service()
    skeleton = set(haproxy_gen.render([service], {"web": ()}).splitlines())
    renders: list[tuple[int, str]] = []

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(nodes)
    def render_one(children):
        backends = [b for b in decode_all(children) if context_free(b)]
        text = haproxy_gen.render([service], {"web": backends})
        for line in text.splitlines():
            assert line in skeleton or SERVER_LINE.fullmatch(line), line
        renders.append((len(backends), text))

    render_one()
    for _, text in sorted(renders, key=lambda r: -r[0])[:CHECKED_RENDERS]:
        haproxy_check(text, tmp_path)


# keywords whose value HAProxy checks against the rest of the config or the disk: a node that
# fails there is skipped by the screen in `apply` (tests/integration/test_synapse.py), not here
CONTEXT_KEYWORDS = {"track", "id", "ca-file", "crl-file", "resolvers", "cookie"}


def context_free(b: Backend) -> bool:
    return not CONTEXT_KEYWORDS & set((b.haproxy_server_options or "").split())


def haproxy_check(text: str, folder: Path) -> None:
    cfg = folder / "candidate.cfg"
    cfg.write_text(text)
    proc = subprocess.run(
        [HAPROXY, "-c", "-q", "-f", str(cfg)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr + text


# --- the Envoy renderer (if this tree has one) -------------------------------------------------


def test_envoy_files_of_fuzzed_membership_hold_only_validated_values():
    envoy = pytest.importorskip("synapse_py.generators.envoy.generator")
    from synapse_py.config import EnvoyConfig, ServiceEnvoyConfig

    with tempfile.TemporaryDirectory() as out:
        gen = envoy.EnvoyGenerator(EnvoyConfig(output_directory=out))
        gen.resolver = FakeResolver()
        service = web_service(envoy=ServiceEnvoyConfig(port=18081))

        @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
        @given(nodes)
        def render_one(children):
            backends = decode_all(children)
            gen.apply([service], {"web": backends})
            assert gen.rejected == 0
            allowed = {(FakeResolver().resolve_all([b.host])[b.host], b.port) for b in backends}
            assert eds_endpoints(Path(out) / "eds" / "web.yaml") <= allowed

        render_one()


def eds_endpoints(path: Path) -> set[tuple[str, int]]:
    import yaml

    doc = yaml.safe_load(path.read_text())
    found = set()
    for resource in doc["resources"]:
        for group in resource.get("endpoints") or ():
            for lb in group["lb_endpoints"]:
                sock = lb["endpoint"]["address"]["socket_address"]
                found.add((sock["address"], sock["port_value"]))
    return found
