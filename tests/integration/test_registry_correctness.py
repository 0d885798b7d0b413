"""Issue 11: synapse-py never serves stale, wrong or no backends because of one bad node, a node
changed in place, or a restart. Real ZooKeeper, real HAProxy (and Envoy), real backends."""

from __future__ import annotations

import json
import time

import pytest
from kazoo.security import make_digest_acl
from support.envoy import EnvoyRig, envoy_binary, runs
from support.haproxy import spread
from support.ports import free_port
from support.procs import wait_for
from support.rigs import register

pytestmark = pytest.mark.integration

CHANGE = 5  # seconds: bound on waits for a change to show


def addr(backend) -> str:
    return f"127.0.0.1:{backend.port}"


def payload(backend, **extra) -> bytes:
    return json.dumps(
        {"host": "127.0.0.1", "port": backend.port, "name": backend.name, **extra}
    ).encode()


def file_output(synapse, service: str = "web") -> list[dict] | None:
    try:
        return json.loads((synapse.out_dir / f"{service}.json").read_text())
    except (OSError, ValueError):
        return None


def test_data_changed_in_place_is_applied(synapse, zk, http_backend):
    """Case 2: set_data on a child, and a fixed-name node deleted and re-created with new data
    before the watch fires, are applied like joins (at run time, no reload)."""
    a, b, c, d = (http_backend() for _ in range(4))
    synapse.haproxy_extra["use_nerve_weights"] = True  # the weight shows which data is applied
    synapse.add_service("web")
    node = register(zk, synapse.path("web"), a)
    synapse.start()
    wait_for(lambda: synapse.live_servers("web") == {addr(a)}, 10, message="a live")
    pid = synapse.worker_pid()

    zk.set(node, payload(b, weight=7))  # the same child now says: b, weight 7
    wait_for(lambda: synapse.weights("web") == {addr(b): 7}, CHANGE, message="set_data applied")

    fixed = f"{synapse.path('web')}/i-fixed"  # nerve's node_type ephemeral: one fixed name
    zk.create(fixed, payload(c), ephemeral=True)
    wait_for(lambda: synapse.live_servers("web") == {addr(b), addr(c)}, CHANGE, message="c live")
    tx = zk.transaction()  # delete and re-create in one step: no watch can fire in between
    tx.delete(fixed)
    tx.create(fixed, payload(d), ephemeral=True)
    assert all(r is True or r == fixed for r in tx.commit())
    wait_for(
        lambda: synapse.live_servers("web") == {addr(b), addr(d)}, CHANGE, message="re-created"
    )
    assert set(spread(synapse.ports["web"], 20)) == {b.name, d.name}
    wait_for(
        lambda: {f["port"] for f in file_output(synapse) or []} == {b.port, d.port},
        CHANGE,
        message="file_output follows",
    )
    assert synapse.worker_pid() == pid


def test_unreadable_child_is_skipped_and_other_changes_go_on(synapse, zk, http_backend):
    """Case 3: a child we may not read (digest ACL: NoAuth) is skipped and counted; a change to
    another service arriving in the same batch is applied."""
    a, a2, b = http_backend(), http_backend(), http_backend()
    synapse.add_service("web")
    synapse.add_service("api")
    register(zk, synapse.path("web"), a)
    zk.ensure_path(synapse.path("api"))
    synapse.start()
    wait_for(lambda: synapse.live_servers("web") == {addr(a)}, 10, message="web live")
    secret = [make_digest_acl("owner", "secret", all=True)]
    zk.create(f"{synapse.path('web')}/locked_", payload(a2), acl=secret, sequence=True)
    register(zk, synapse.path("web"), a2)
    register(zk, synapse.path("api"), b)
    wait_for(lambda: synapse.live_servers("api") == {addr(b)}, CHANGE, message="api applied")
    wait_for(
        lambda: synapse.live_servers("web") == {addr(a), addr(a2)}, CHANGE, message="web applied"
    )
    wait_for(lambda: "cannot be read: NoAuthError" in synapse.proc.output(), CHANGE)
    assert "reconcile failed" not in synapse.proc.output()


def test_base_service_is_served_from_the_first_apply(synapse, zk, http_backend):
    """Case 4: a `base` service (only default_servers) is in HAProxy and file_output at once."""
    d, a = http_backend(), http_backend()
    synapse.add_service("web")
    register(zk, synapse.path("web"), a)
    port = free_port()
    synapse.services["static"] = {
        "discovery": {"method": "base"},
        "default_servers": [{"name": d.name, "host": "127.0.0.1", "port": d.port}],
        "haproxy": {"port": port, "server_options": ""},
    }
    synapse.start()
    wait_for(lambda: synapse.live_servers("static") == {addr(d)}, 10, message="default server")
    wait_for(lambda: synapse.live_servers("web") == {addr(a)}, CHANGE, message="web live")
    assert [f["port"] for f in file_output(synapse, "static") or []] == [d.port]
    assert set(spread(port, 5)) == {d.name}


def test_restart_with_zookeeper_unreachable_leaves_outputs_alone(synapse, zk, http_backend):
    """Case 5: without a state file, a restart while ZooKeeper cannot be reached keeps HAProxy and
    file_output exactly as they were (the first apply used to empty both)."""
    a, b = http_backend(), http_backend()
    synapse.use_state_file = False
    port = synapse.add_service("web")
    register(zk, synapse.path("web"), a)
    register(zk, synapse.path("web"), b)
    synapse.start()
    want = {addr(a), addr(b)}
    wait_for(lambda: synapse.live_servers("web") == want, 10, message="a and b live")
    wait_for(lambda: len(file_output(synapse) or []) == 2, CHANGE, message="file_output")
    before = (synapse.out_dir / "web.json").read_text()
    assert synapse.proc.stop() == 0
    synapse.services["web"]["discovery"]["hosts"] = [f"127.0.0.1:{free_port()}"]  # nobody there
    synapse.start()
    deadline = time.monotonic() + 4  # longer than synapse-py's first apply takes
    while time.monotonic() < deadline:
        assert synapse.live_servers("web") == want
        assert (synapse.out_dir / "web.json").read_text() == before
        time.sleep(0.2)
    assert set(spread(port, 10)) == {a.name, b.name}


def test_state_file_serves_a_file_output_only_setup(synapse, zk, http_backend):
    """Case 5: the top-level state_file_path gives a file_output-only setup its last-known-good
    membership when it restarts with ZooKeeper unreachable."""
    a = http_backend()
    synapse.add_service("web")
    register(zk, synapse.path("web"), a)
    state = synapse.tmp / "state.json"
    conf = {
        "services": {"web": {"discovery": synapse.services["web"]["discovery"]}},
        "zk_session_timeout": 3,
        "state_file_path": str(state),
        "file_output": {"output_directory": str(synapse.out_dir)},
    }
    synapse.config_path.write_text(json.dumps(conf))
    from support.procs import DaemonProcess

    def run() -> DaemonProcess:
        log = synapse.tmp / f"synapse-{time.monotonic_ns()}.log"
        return DaemonProcess("synapse_py", synapse.config_path, log, ("--log-level", "debug"))

    proc = run().start()
    try:
        wait_for(lambda: [f["port"] for f in file_output(synapse) or []] == [a.port], 10)
        wait_for(lambda: state.exists(), CHANGE, message="state file written")
    finally:
        assert proc.stop() == 0
    (synapse.out_dir / "web.json").unlink()  # a new host disk, say
    conf["services"]["web"]["discovery"]["hosts"] = [f"127.0.0.1:{free_port()}"]
    synapse.config_path.write_text(json.dumps(conf))
    proc = run().start()
    try:
        wait_for(lambda: [f["port"] for f in file_output(synapse) or []] == [a.port], 10)
    finally:
        proc.stop()


def test_two_nodes_for_one_host_port_follow_one_rule(synapse, zk, http_backend):
    """Case 8: of two nodes with the same host:port, the newest registration wins (highest
    sequence number), whatever ZooKeeper's child order; it is logged once."""
    a = http_backend()
    synapse.haproxy_extra["use_nerve_weights"] = True  # the weight shows which node won
    synapse.add_service("web")
    register(zk, synapse.path("web"), a, weight=0)
    register(zk, synapse.path("web"), a, weight=9)
    synapse.start()
    wait_for(lambda: synapse.weights("web") == {addr(a): 9}, 10, message="newest node wins")
    old = register(zk, synapse.path("web"), a, weight=3)  # newer still
    wait_for(lambda: synapse.weights("web") == {addr(a): 3}, CHANGE, message="newer wins")
    zk.delete(old)
    wait_for(lambda: synapse.weights("web") == {addr(a): 9}, CHANGE, message="back to 9")
    log = synapse.proc.output()
    assert log.count(f"nodes register {addr(a)}") == 2  # once per distinct clash, not per apply


def test_label_only_change_reaches_file_output_and_the_state_file(synapse, zk, http_backend):
    """Case 9: a node re-registered with other labels only (same host, port, weight) is a
    change: file_output and the state file show the new labels."""
    a = http_backend()
    synapse.add_service("web")
    node = register(zk, synapse.path("web"), a, labels={"az": "a"})
    synapse.start()
    wait_for(lambda: (file_output(synapse) or [{}])[0].get("labels") == {"az": "a"}, 10)
    zk.delete(node)
    register(zk, synapse.path("web"), a, labels={"az": "b"})
    wait_for(
        lambda: (file_output(synapse) or [{}])[0].get("labels") == {"az": "b"},
        CHANGE,
        message="file_output has the new label",
    )

    def state_labels():
        services = json.loads(synapse.state_path.read_text())["services"]
        return [b.get("labels") for b in services["web"]]

    wait_for(lambda: state_labels() == [{"az": "b"}], CHANGE, message="state file follows")


# -- Envoy -------------------------------------------------------------------------------------


@pytest.fixture
def envoy_rig(tmp_path, zk_server, zk_root, request):
    binary = envoy_binary()
    if binary is None:
        pytest.fail("no Envoy in .venv-envoy; run `make envoy-venv`", pytrace=False)
    if why_not := runs(binary):
        pytest.skip(why_not)
    rig = EnvoyRig(tmp_path, zk_server.hosts, zk_root, binary)
    yield rig
    if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
        for proc in (rig.synapse, rig.envoy):
            if proc:
                print(f"--- {proc.log_path.name} ---\n{proc.output()[-6000:]}")
    rig.stop()


def test_envoy_serves_base_services_and_label_changes(envoy_rig, zk, http_backend):
    """Cases 4 and 9 on Envoy: a base service's default_servers are endpoints from the start; a
    label changed in place moves a node out of a label-filtered service (labels themselves are
    never rendered into a proxy config)."""
    d, a, b = http_backend(), http_backend(), http_backend()
    static_port = envoy_rig.add_service("static")
    envoy_rig.services["static"]["discovery"] = {"method": "base"}
    envoy_rig.services["static"]["default_servers"] = [
        {"name": d.name, "host": "127.0.0.1", "port": d.port}
    ]
    envoy_rig.add_service("web")
    envoy_rig.services["web"]["discovery"]["label_filters"] = [
        {"label": "az", "value": "a", "condition": "equals"}
    ]
    node = register(zk, envoy_rig.path("web"), a, labels={"az": "a"})
    register(zk, envoy_rig.path("web"), b, labels={"az": "a"})
    envoy_rig.start()
    wait_for(lambda: envoy_rig.envoy.endpoints("static") == {addr(d): 1}, 15, message="static")
    assert set(spread(static_port, 5)) == {d.name}
    both = {addr(a): 1, addr(b): 1}
    wait_for(lambda: envoy_rig.envoy.endpoints("web") == both, CHANGE, message="web")
    zk.set(node, payload(a, labels={"az": "b"}))  # a moves to another zone, in place
    wait_for(lambda: envoy_rig.envoy.endpoints("web") == {addr(b): 1}, CHANGE, message="a left")
    assert "az" not in (envoy_rig.out / "eds" / "web.yaml").read_text()
