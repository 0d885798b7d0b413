"""Hostname backends through a DNS outage, for the HAProxy (real HAProxy) and Envoy generators.

getaddrinfo is replaced in this process for names under `.test` only (HAProxy, the backends and
everything else resolve as usual), so the code under test resolves exactly as in production.
"""

from __future__ import annotations

import json
import socket

import pytest
import yaml
from support.haproxy import HaproxyFiles, spread
from support.ports import free_port
from support.procs import wait_for

from synapse_py.backend import Backend
from synapse_py.config import load_config
from synapse_py.generators.envoy.generator import EnvoyGenerator

from .test_haproxy_generator import Rig, service

pytestmark = pytest.mark.integration


@pytest.fixture
def zone(monkeypatch):
    """name -> address for `*.test`; a `.test` name not in it does not resolve."""
    names: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".test"):
            if host not in names:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (names[host], 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


@pytest.fixture
def haproxy(tmp_path):
    files = HaproxyFiles(tmp_path)
    rig = Rig(files)
    yield rig.gen
    rig.gen.stop()
    files.stop()


def test_haproxy_keeps_last_addresses_and_adds_a_host_when_it_resolves(haproxy, zone, http_backend):
    a, b, c = http_backend(), http_backend(), http_backend()
    port = free_port()
    svc = service("web", port)
    zone["a.test"] = "127.0.0.1"
    members = [Backend("a.test", a.port, a.name), Backend("b.test", b.port, b.name)]
    haproxy.apply([svc], {"web": members})
    assert haproxy.flush(10) and set(spread(port, 10)) == {a.name}
    del zone["a.test"]  # DNS fails for a; a later change must not drop it
    haproxy.apply([svc], {"web": [*members, Backend("127.0.0.1", c.port, c.name)]})
    assert haproxy.flush(10) and set(spread(port, 15)) == {a.name, c.name}
    zone["b.test"] = "127.0.0.1"  # b resolves now: no membership change follows
    wait_for(lambda: set(spread(port, 15)) == {a.name, b.name, c.name}, 20, message="b added")


def test_envoy_keeps_last_addresses_and_adds_a_host_when_it_resolves(tmp_path, zone):
    raw = {
        "services": {"web": {"discovery": {"method": "base"}, "envoy": {"port": free_port()}}},
        "envoy": {"output_directory": str(tmp_path / "out")},
    }
    (tmp_path / "synapse.json").write_text(json.dumps(raw))
    conf = load_config(tmp_path / "synapse.json")
    gen = EnvoyGenerator(conf.envoy)
    try:
        zone["a.test"] = "10.0.0.1"
        gen.apply(conf.services, {"web": (Backend("a.test", 80, "a"), Backend("b.test", 80, "b"))})
        assert endpoints(tmp_path) == {"10.0.0.1"}
        del zone["a.test"]
        gen.apply(conf.services, {"web": (Backend("a.test", 80, "a"), Backend("b.test", 81, "b"))})
        assert endpoints(tmp_path) == {"10.0.0.1"}
        zone["b.test"] = "10.0.0.2"
        wait_for(lambda: endpoints(tmp_path) == {"10.0.0.1", "10.0.0.2"}, 20, message="b added")
    finally:
        gen.stop()


def endpoints(tmp_path) -> set[str]:
    doc = yaml.safe_load((tmp_path / "out" / "eds" / "web.yaml").read_text())
    groups = doc["resources"][0].get("endpoints", [])
    return {
        e["endpoint"]["address"]["socket_address"]["address"]
        for g in groups
        for e in g.get("lb_endpoints", [])
    }
