"""The Envoy generator's files and config, without an Envoy (tests/integration runs a real one)."""

from __future__ import annotations

import json

import pytest
import yaml

from synapse_py.backend import Backend
from synapse_py.config import ConfigError, load_config
from synapse_py.generators.envoy.generator import EnvoyGenerator


def config(tmp_path, envoy: dict | None = None, **services):
    services = services or {"web": {"port": 10080, "mode": "http"}}
    raw = {
        "services": {
            name: {"discovery": {"method": "base"}, "envoy": section}
            for name, section in services.items()
        },
        "envoy": {"output_directory": str(tmp_path / "out"), **(envoy or {})},
    }
    path = tmp_path / "synapse.json"
    path.write_text(json.dumps(raw))
    return load_config(path)


def eds(tmp_path, service="web") -> list[dict]:
    doc = yaml.safe_load((tmp_path / "out" / "eds" / f"{service}.yaml").read_text())
    endpoints = doc["resources"][0]["endpoints"]
    return [e for group in endpoints for e in group["lb_endpoints"]]


def applied(tmp_path, conf, membership) -> EnvoyGenerator:
    gen = EnvoyGenerator(conf.envoy)
    gen.apply(conf.services, membership)
    return gen


def test_config_defaults_and_key_paths_in_errors(tmp_path):
    conf = config(tmp_path)
    assert conf.envoy.bind_address == "127.0.0.1" and conf.envoy.admin_port == 9901
    web = conf.service("web").envoy
    assert (web.mode, web.lb_policy, web.connect_timeout, web.health_check) == (
        "http",
        "round_robin",
        1.0,
        None,
    )
    with pytest.raises(ConfigError, match=r"services\.web\.envoy\.bind_address: not an IP"):
        config(tmp_path, web={"port": 1, "bind_address": "1.2.3.400"})
    with pytest.raises(ConfigError, match=r"envoy\.retries: unknown key"):
        config(tmp_path, envoy={"retries": 3})
    with pytest.raises(ConfigError, match=r"services\.web\.envoy\.mode"):
        config(tmp_path, web={"port": 1, "mode": "udp"})


def test_weights_drain_hostnames_and_duplicates(tmp_path):
    conf = config(tmp_path)
    backends = (
        Backend("127.0.0.1", 8001, "a", weight=5),
        Backend("127.0.0.1", 8002, "b", weight=0),
        Backend("localhost", 8003, "c"),
        Backend("127.0.0.1", 8003, "c-again"),
    )
    applied(tmp_path, conf, {"web": backends}).stop()
    got = {
        e["endpoint"]["address"]["socket_address"]["port_value"]: (
            e.get("load_balancing_weight"),
            e.get("health_status"),
        )
        for e in eds(tmp_path)
    }
    assert got == {8001: (5, None), 8002: (None, "DRAINING"), 8003: (None, None)}


def test_only_changed_files_are_replaced_and_removed_services_purged(tmp_path):
    conf = config(tmp_path, web={"port": 10080}, api={"port": 10081})
    out = tmp_path / "out"
    gen = applied(tmp_path, conf, {"web": (), "api": ()})
    inodes = {p.name: p.stat().st_ino for p in out.rglob("*.yaml")}
    gen.apply(conf.services, {"web": (Backend("127.0.0.1", 8001, "a"),), "api": ()})
    now = {p.name: p.stat().st_ino for p in out.rglob("*.yaml")}
    assert {name for name in now if now[name] != inodes[name]} == {"web.yaml"}

    smaller = config(tmp_path, web={"port": 10080})
    gen.apply(smaller.services, {"web": ()})
    assert not (out / "eds" / "api.yaml").exists()
    assert '"api"' not in (out / "cds.yaml").read_text() + (out / "lds.yaml").read_text()
    gen.stop()


def test_a_refused_candidate_installs_nothing(tmp_path):
    conf = config(tmp_path)
    gen = applied(tmp_path, conf, {"web": ()})
    before = {p: p.read_text() for p in (tmp_path / "out").rglob("*.yaml")}
    refusing = config(tmp_path, envoy={"binary_path": "/bin/false"})
    gen = EnvoyGenerator(refusing.envoy)
    gen.apply(refusing.services, {"web": (Backend("127.0.0.1", 8001, "a"),)})
    assert gen.rejected == 1
    assert {p: p.read_text() for p in (tmp_path / "out").rglob("*.yaml")} == before
    gen.stop()
