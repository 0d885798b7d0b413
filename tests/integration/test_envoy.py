"""synapse-py driving a real Envoy through file-based xDS: real ZooKeeper, real backends."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import threading

import pytest
import yaml
from support.envoy import EnvoyRig, validate
from support.haproxy import get, spread
from support.procs import wait_for
from support.rigs import register

pytestmark = pytest.mark.integration

CHANGE_SECONDS = 5  # bound on waits for a change to show; routing follows in well under a second
XDS_COUNTERS = (
    "listener_manager.lds.update_attempt",
    "cluster_manager.cds.update_attempt",
    "cluster_manager.cluster_modified",
    "cluster_manager.cluster_added",
)


@pytest.fixture
def rig(envoy_rig):
    return envoy_rig


def addr(backend) -> str:
    return f"127.0.0.1:{backend.port}"


def tcp_read(port: int) -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            return conn.recv(64).decode() or None
    except OSError:
        return None


def endpoints_become(rig: EnvoyRig, service: str, want: dict[str, int]) -> None:
    wait_for(
        lambda: rig.envoy.endpoints(service) == want,
        CHANGE_SECONDS,
        message=f"{service} endpoints {want}",
    )


def counters(rig: EnvoyRig) -> dict[str, int]:
    stats = rig.envoy.stats()
    return {name: stats.get(name, 0) for name in XDS_COUNTERS}


def rejected(rig: EnvoyRig) -> dict[str, int]:
    return {k: v for k, v in rig.envoy.stats().items() if k.endswith("update_rejected") and v}


def test_bootstrap_validates_and_traffic_reaches_exactly_the_live_nodes(
    rig, zk, binary, http_backend, tcp_backend
):
    a, b, outsider = http_backend(), http_backend(), http_backend()
    t1, t2 = tcp_backend(), tcp_backend()
    web = rig.add_service("web", mode="http")
    raw = rig.add_service("raw", connect_timeout=0.5, lb_policy="random")
    for backend in (a, b):
        register(zk, rig.path("web"), backend)
    for backend in (t1, t2):
        register(zk, rig.path("raw"), backend)
    rig.start()

    done = validate(binary, rig.out / "bootstrap.yaml")
    assert done.returncode == 0, done.stderr[-2000:]
    endpoints_become(rig, "web", {addr(a): 1, addr(b): 1})
    endpoints_become(rig, "raw", {addr(t1): 1, addr(t2): 1})
    assert set(spread(web, 20)) == {a.name, b.name}
    assert {tcp_read(raw) for _ in range(20)} == {t1.name, t2.name}
    assert outsider.hits == 0
    assert rig.envoy.restart_epoch() == 0
    assert rejected(rig) == {}


def test_membership_and_weight_changes_go_to_eds_only(rig, zk, http_backend):
    a, b = http_backend(), http_backend()
    port = rig.add_service("web", mode="http")
    node_a = register(zk, rig.path("web"), a)
    rig.start()
    endpoints_become(rig, "web", {addr(a): 1})
    pid, before = rig.envoy.pid, counters(rig)

    register(zk, rig.path("web"), b, weight=7)
    endpoints_become(rig, "web", {addr(a): 1, addr(b): 7})
    wait_for(lambda: b.name in set(spread(port, 20)), CHANGE_SECONDS, message="b routed")
    zk.delete(node_a)
    endpoints_become(rig, "web", {addr(b): 7})
    hits = a.hits
    assert set(spread(port, 20)) == {b.name}
    assert a.hits == hits  # dropped: no request reaches a removed node

    assert counters(rig) == before  # no LDS or CDS update, no cluster rebuilt
    assert rig.envoy.pid == pid and rig.envoy.alive()
    assert rig.envoy.restart_epoch() == 0
    assert rejected(rig) == {}


def test_weight_zero_drains_a_node(rig, zk, http_backend):
    a, b = http_backend(), http_backend()
    port = rig.add_service("web", mode="http")
    register(zk, rig.path("web"), a)
    register(zk, rig.path("web"), b, weight=0)
    rig.start()
    endpoints_become(rig, "web", {addr(a): 1})
    assert set(spread(port, 20)) == {a.name}
    assert b.hits == 0


def test_service_added_and_removed_by_sighup_without_restart(rig, zk, http_backend, tcp_backend):
    a, t = http_backend(), tcp_backend()
    web = rig.add_service("web", mode="http")
    register(zk, rig.path("web"), a)
    rig.start()
    endpoints_become(rig, "web", {addr(a): 1})
    pid = rig.envoy.pid

    api = rig.add_service("api")
    register(zk, rig.path("api"), t)
    rig.write()
    rig.synapse.signal(signal.SIGHUP)
    wait_for(lambda: tcp_read(api) == t.name, CHANGE_SECONDS, message="api served after SIGHUP")
    assert get(web) == a.name

    del rig.services["web"]
    rig.write()
    rig.synapse.signal(signal.SIGHUP)
    wait_for(lambda: "web" not in rig.envoy.listeners(), CHANGE_SECONDS, message="web removed")
    wait_for(lambda: rig.envoy.clusters() == {"api"}, CHANGE_SECONDS, message="web cluster gone")
    wait_for(lambda: not (rig.out / "eds" / "web.yaml").exists(), CHANGE_SECONDS, message="purge")
    assert tcp_read(api) == t.name
    assert rig.envoy.pid == pid and rig.envoy.restart_epoch() == 0
    assert rejected(rig) == {}


HOSTILE = [
    {"host": '127.0.0.1"\n      load_balancing_weight: 99', "port": 1, "name": "inj"},
    {"host": "127.0.0.1", "port": 0, "name": "zero-port"},
    {"host": "127.0.0.1", "port": 70000, "name": "big-port"},
    {"host": "127.0.0.1", "port": 1, "name": "bad name: {x}"},
    {"host": "127.0.0.1", "port": 1, "name": "negative", "weight": -5},
    {"host": "not a host!", "port": 1, "name": "spaces"},
    {"host": "127.0.0.1", "port": True, "name": "bool-port"},
]


def test_hostile_nodes_change_nothing(rig, zk, http_backend):
    a, marker = http_backend(), http_backend()
    port = rig.add_service("web", mode="http")
    register(zk, rig.path("web"), a, labels={"evil-label": "x: [1\n- y"})
    rig.start()
    endpoints_become(rig, "web", {addr(a): 1})
    pid, before = rig.envoy.pid, counters(rig)

    for i, data in enumerate(HOSTILE):
        zk.create(f"{rig.path('web')}/hostile{i}_", json.dumps(data).encode(), sequence=True)
    zk.create(f"{rig.path('web')}/notjson_", b"{'host': ", sequence=True)
    encoded = base64.urlsafe_b64encode(b'{"host": "::1\\n", "port": 1}').decode()
    zk.create(f"{rig.path('web')}/base64_{len(encoded)}_{encoded}_", b"", sequence=True)
    register(zk, rig.path("web"), marker)  # read after the hostile ones: a barrier

    endpoints_become(rig, "web", {addr(a): 1, addr(marker): 1})
    assert set(spread(port, 20)) == {a.name, marker.name}
    text = "".join(rig.files().values())
    assert "load_balancing_weight" not in text and "evil-label" not in text and "x: [1" not in text
    assert counters(rig) == before and rig.envoy.pid == pid
    assert rejected(rig) == {}


def test_files_are_replaced_whole_and_an_invalid_config_is_never_installed(rig, zk, http_backend):
    backends = [http_backend() for _ in range(4)]
    port = rig.add_service("web", mode="http")
    rig.start()
    eds = rig.out / "eds" / "web.yaml"
    with open(eds) as held:  # a rename gives readers a new file; an open one never changes
        first = held.read()
        torn, stop = [], threading.Event()
        reader = threading.Thread(target=_read_until, args=(rig.out, stop, torn), daemon=True)
        reader.start()
        nodes = [register(zk, rig.path("web"), b) for b in backends]
        for node in nodes[:2]:
            zk.delete(node)
        endpoints_become(rig, "web", {addr(b): 1 for b in backends[2:]})
        stop.set()
        reader.join(10)
        held.seek(0)
        assert held.read() == first
    assert torn == []
    assert not [p for p in os.listdir(rig.out / "eds") if p.startswith(".")]  # no temp left

    before = rig.files()
    # same listener address: refused when the config is read (synapse_py/config_checks.py),
    # before any candidate is rendered for Envoy to refuse
    rig.add_service("clash", port=port)
    rig.write()
    rig.synapse.signal(signal.SIGHUP)
    refusal = f"services.web.envoy.port: listens on 127.0.0.1:{port}, as does services.clash"
    wait_for(lambda: refusal in rig.synapse.output(), CHANGE_SECONDS, message="refusal")
    assert rig.files() == before
    assert set(spread(port, 10)) == {b.name for b in backends[2:]}
    assert rejected(rig) == {} and rig.envoy.restart_epoch() == 0


def _read_until(folder, stop: threading.Event, torn: list) -> None:
    """Parse every file over and over; record any that is not a whole xDS document."""
    while not stop.is_set():
        for path in folder.rglob("*.yaml"):
            try:
                doc = yaml.safe_load(path.read_text())
            except FileNotFoundError:
                continue
            except yaml.YAMLError as e:
                torn.append((str(path), str(e)[:200]))
                continue
            if path.name != "bootstrap.yaml" and not isinstance(doc.get("resources"), list):
                torn.append((str(path), "no resources"))
