"""synapse-py as a real process: real ZooKeeper, real master-worker HAProxy, real backends."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.haproxy import get, spread
from support.procs import DaemonProcess, wait_for, write_json
from support.rigs import register
from support.zk import ZooKeeperEnsemble

from synapse_py.backend import Backend
from synapse_py.proxy.haproxy_socket import HaproxySocket

pytestmark = pytest.mark.integration


def addr(backend) -> str:
    return f"127.0.0.1:{backend.port}"


def test_traffic_follows_zookeeper_with_zero_reloads(synapse, zk, http_backend):
    a, b, c, outsider = (http_backend() for _ in range(4))
    port = synapse.add_service("web")
    node_a = register(zk, synapse.path("web"), a)
    register(zk, synapse.path("web"), b)
    synapse.start()
    wait_for(lambda: synapse.live_servers("web") == {addr(a), addr(b)}, 10, message="a and b live")
    pid = synapse.worker_pid()
    assert set(spread(port, 20)) == {a.name, b.name}

    register(zk, synapse.path("web"), c)
    wait_for(
        lambda: synapse.live_servers("web") == {addr(a), addr(b), addr(c)}, 5, message="c added"
    )
    zk.delete(node_a)
    wait_for(lambda: synapse.live_servers("web") == {addr(b), addr(c)}, 5, message="a removed")
    assert set(spread(port, 20)) == {b.name, c.name}
    assert outsider.hits == 0 and a.hits <= 20
    assert synapse.worker_pid() == pid  # no reload for membership changes
    want = {("127.0.0.1", b.port), ("127.0.0.1", c.port)}
    wait_for(
        lambda: (
            {(f["host"], f["port"]) for f in json.loads((synapse.out_dir / "web.json").read_text())}
            == want
        ),
        5,
        message="file_output follows",
    )
    assert synapse.proc.stop() == 0  # SIGTERM: synapse-py exits, HAProxy keeps serving
    assert set(spread(port, 10)) == {b.name, c.name}


def test_weight_change_applies_without_reload(synapse, zk, http_backend):
    a, b = http_backend(), http_backend()
    synapse.haproxy_extra["use_nerve_weights"] = True  # Ruby's key: nerve weights apply
    synapse.add_service("web")
    register(zk, synapse.path("web"), a, weight=10)
    node_b = register(zk, synapse.path("web"), b, weight=10)
    synapse.start()
    wait_for(lambda: synapse.weights("web") == {addr(a): 10, addr(b): 10}, 10, message="weights 10")
    pid = synapse.worker_pid()
    zk.delete(node_b)  # nerve re-registers a changed service: delete + create
    register(zk, synapse.path("web"), b, weight=30)
    wait_for(lambda: synapse.weights("web") == {addr(a): 10, addr(b): 30}, 5, message="weight 30")
    assert synapse.worker_pid() == pid


def test_new_service_by_sighup_reloads_once(synapse, zk, http_backend):
    a, b = http_backend(), http_backend()
    synapse.add_service("web")
    register(zk, synapse.path("web"), a)
    proc = synapse.start()
    wait_for(lambda: synapse.live_servers("web") == {addr(a)}, 10, message="web ready")
    pid = synapse.worker_pid()
    api_port = synapse.add_service("api")
    register(zk, synapse.path("api"), b)
    synapse.write()
    proc.signal(signal.SIGHUP)
    wait_for(lambda: get(api_port) == b.name, 10, message="api served after SIGHUP")
    new_pid = synapse.worker_pid()
    assert new_pid != pid
    time.sleep(1.5)  # past restart_interval: no second reload follows
    assert synapse.worker_pid() == new_pid
    assert proc.proc.poll() is None


HOSTILE = [
    b'{"host": "127.0.0.1\\n    server evil 6.6.6.6:80", "port": 80, "name": "x"}',
    b'{"host": "127.0.0.1", "port": 80, "name": "x\\nbackend evil"}',
    b'{"host": "127.0.0.1", "port": 80, "name": "x", "haproxy_server_options": "check\\nlisten e"}',
    b'{"host": "127.0.0.1", "port": 80, "name": "x", "haproxy_server_options": "crt /k.pem"}',
    b'{"host": "127.0.0.1", "port": 0, "name": "x"}',
    b'{"host": "127.0.0.1", "port": "80 ", "name": "x"}',
    b"not json at all",
    b"\xff\xfe\x00garbage",
    b"[1, 2, 3]",
    b"",
]


def test_hostile_nodes_never_reach_haproxy(synapse, zk, http_backend):
    good = http_backend()
    port = synapse.add_service("web")
    register(zk, synapse.path("web"), good)
    synapse.start()
    wait_for(lambda: synapse.live_servers("web") == {addr(good)}, 10, message="good backend live")
    pid = synapse.worker_pid()
    for i, data in enumerate(HOSTILE):
        zk.create(f"{synapse.path('web')}/evil{i}_", data, ephemeral=True, sequence=True)
    zk.create(f"{synapse.path('web')}/base64_8_bm90LWpzb24_0000000001", b"", ephemeral=True)
    wait_for(
        lambda: synapse.proc.output().count("invalid node") >= len(HOSTILE),
        10,
        message="all skipped",
    )
    cfg = Path(synapse.hx.config).read_text()
    assert "evil" not in cfg and "6.6.6.6" not in cfg
    assert synapse.live_servers("web") == {addr(good)}
    assert set(spread(port, 10)) == {good.name}
    assert synapse.worker_pid() == pid and synapse.proc.proc.poll() is None


def test_rejected_config_is_never_installed(synapse, zk, http_backend):
    a, b = http_backend(), http_backend()
    port = synapse.add_service("web")
    register(zk, synapse.path("web"), a)
    proc = synapse.start()
    wait_for(
        lambda: addr(a) in Path(synapse.hx.config).read_text(), 10, message="web in haproxy.cfg"
    )
    before = Path(synapse.hx.config).read_text()
    synapse.add_service("bad", backend=["balance no-such-algorithm"])  # a known keyword
    synapse.write()
    proc.signal(signal.SIGHUP)
    wait_for(lambda: "refused" in proc.output(), 10, message="validation failure logged")
    assert Path(synapse.hx.config).read_text() == before
    assert not list(Path(synapse.hx.config).parent.glob(".haproxy.cfg*"))
    register(zk, synapse.path("web"), b)  # membership changes still flow
    wait_for(lambda: synapse.live_servers("web") == {addr(a), addr(b)}, 5, message="b added")
    assert get(port) in {a.name, b.name}


def test_a_node_haproxy_refuses_in_context_is_skipped_and_the_rest_goes_on(
    synapse, zk, http_backend
):
    """`agent-check` passes the allow-list, but HAProxy 2.6 refuses it without `agent-port`."""
    a, bad, b, c, d = (http_backend() for _ in range(5))
    port = synapse.add_service("web")
    synapse.add_service("api")
    register(zk, synapse.path("web"), a)
    proc = synapse.start()
    wait_for(lambda: synapse.live_servers("web") == {addr(a)}, 10, message="a live")
    register(zk, synapse.path("web"), bad, haproxy_server_options="check agent-check")
    wait_for(lambda: "does not have agent port" in proc.output(), 10, message="reason logged")
    register(zk, synapse.path("web"), b)
    register(zk, synapse.path("api"), c)
    wait_for(lambda: synapse.live_servers("web") == {addr(a), addr(b)}, 10, message="b added")
    wait_for(lambda: synapse.live_servers("api") == {addr(c)}, 10, message="api's node added")
    late_port = synapse.add_service("late")
    register(zk, synapse.path("late"), d)
    synapse.write()
    proc.signal(signal.SIGHUP)
    wait_for(lambda: get(late_port) == d.name, 10, message="a service added by SIGHUP served")
    assert wait_for(
        lambda: all(addr(x) in Path(synapse.hx.config).read_text() for x in (a, b, c, d)),
        5,
        message="every good node in haproxy.cfg",
    )
    assert addr(bad) not in Path(synapse.hx.config).read_text()
    assert set(spread(port, 20)) == {a.name, b.name} and bad.hits == 0
    assert proc.output().count("does not have agent port") == 1  # logged once, not per apply


def server_lines(synapse) -> list[str]:
    """The names of the server lines of haproxy.cfg."""
    lines = (line.split() for line in Path(synapse.hx.config).read_text().splitlines())
    return [tokens[1] for tokens in lines if tokens[:1] == ["server"]]


def test_a_ramp_of_40_and_back_has_zero_reloads_and_the_file_lists_the_live_servers(
    synapse, zk, http_backend
):
    a = http_backend()
    port = synapse.add_service("web")
    synapse.services["web"]["mass_expiry_grace"] = 0  # the ramp down is not an outage
    register(zk, synapse.path("web"), a)
    synapse.start()
    wait_for(lambda: synapse.live_servers("web") == {addr(a)}, 10, message="a live")
    pid = synapse.worker_pid()
    ramp = [Backend("127.0.0.1", 40000 + i, f"r{i}") for i in range(40)]
    nodes = []
    for b in ramp:  # one at a time: 40 changes
        nodes.append(register(zk, synapse.path("web"), b))
        time.sleep(0.05)
    want = {addr(a), *(f"127.0.0.1:{b.port}" for b in ramp)}
    wait_for(lambda: synapse.live_servers("web") == want, 20, message="the ramp is live")
    stat = HaproxySocket(synapse.hx.socket).send("show stat -1 4 -1")  # the stats page's CSV
    for b in ramp:  # the stats page names each server as Ruby does, with its address
        row = next(x.split(",") for x in stat.splitlines() if x.startswith(f"web,{b.name}_"))
        assert row[1] == f"{b.name}_127.0.0.1:{b.port}" and f"127.0.0.1:{b.port}" in row
    for node in nodes:
        zk.delete(node)
        time.sleep(0.05)
    wait_for(lambda: synapse.live_servers("web") == {addr(a)}, 20, message="back to a")
    wait_for(lambda: server_lines(synapse) == [f"{a.name}_{addr(a)}"], 10, message="file: a")
    assert synapse.worker_pid() == pid  # zero reloads
    assert set(spread(port, 10)) == {a.name}


def test_a_request_in_flight_on_a_leaving_server_completes(synapse, zk, http_backend):
    a, b = http_backend(), http_backend()
    port = synapse.add_service("web")
    synapse.services["web"]["mass_expiry_grace"] = 0
    node_a = register(zk, synapse.path("web"), a)
    synapse.start()
    wait_for(lambda: synapse.live_servers("web") == {addr(a)}, 10, message="a live")
    register(zk, synapse.path("web"), b)
    wait_for(lambda: synapse.live_servers("web") == {addr(a), addr(b)}, 10, message="b live")
    answers: list[tuple[int, str]] = []
    requests = [threading.Thread(target=lambda: answers.append(_slow_get(port))) for _ in range(4)]
    for t in requests:  # round robin: some on a
        t.start()
    wait_for(lambda: a.hits >= 1, 5, message="a request on a")
    zk.delete(node_a)
    name_a = f"{a.name}_{addr(a)}"
    wait_for(lambda: server_lines(synapse) == [f"{b.name}_{addr(b)}"], 10, message="file: b")
    for t in requests:
        t.join(10)
    assert answers and all(code == 200 for code, _ in answers), answers
    assert a.name in {body for _, body in answers}  # the leaving server finished its request
    rows = lambda: {r.server for r in HaproxySocket(synapse.hx.socket).show_servers_state("web")}  # noqa: E731
    wait_for(lambda: name_a not in rows(), 10, message="a deleted once idle")


def _slow_get(port: int, seconds: float = 1.5) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", f"/slow/{seconds}")
    reply = conn.getresponse()
    answer = reply.status, reply.read().decode()
    conn.close()
    return answer


def test_a_restart_of_synapse_py_with_the_same_membership_does_not_reload(
    synapse, zk, http_backend
):
    a, b = http_backend(), http_backend()
    port = synapse.add_service("web")
    register(zk, synapse.path("web"), a)
    register(zk, synapse.path("web"), b, weight=3)
    synapse.start()
    wait_for(lambda: synapse.live_servers("web") == {addr(a), addr(b)}, 10, message="a, b live")
    register(zk, synapse.path("web"), http_backend())  # one added at run time, too
    wait_for(lambda: len(synapse.live_servers("web")) == 3, 10, message="three live")
    wait_for(lambda: len(server_lines(synapse)) == 3, 10, message="the file follows")
    pid, servers = synapse.worker_pid(), server_lines(synapse)
    assert synapse.proc.stop() == 0
    synapse.start()
    wait_for(lambda: "adopting the running HAProxy" in synapse.proc.output(), 10, message="adopt")
    time.sleep(1.5)  # past restart_interval: a reload would have run by now
    assert synapse.worker_pid() == pid  # no reload
    assert sorted(server_lines(synapse)) == sorted(servers)  # (shuffled with a new seed)
    assert len(set(spread(port, 30))) == 3


def test_render_and_status_commands(synapse, zk, http_backend):
    a = http_backend()
    synapse.add_service("web")
    register(zk, synapse.path("web"), a, weight=5)
    synapse.write()
    r = synapse.cli("render")
    assert r.returncode == 0, r.stderr
    assert f"127.0.0.1:{a.port}" in r.stdout and "backend web" in r.stdout
    assert not Path(synapse.hx.config).exists()  # render changes nothing
    assert synapse.cli("validate").returncode == 0
    synapse.start()
    wait_for(lambda: synapse.live_servers("web") == {addr(a)}, 10, message="live")
    st = synapse.cli("status")
    assert st.returncode == 0, st.stdout + st.stderr
    assert f"127.0.0.1:{a.port}" in st.stdout and "ready" in st.stdout
    assert f"{a.name}_127.0.0.1:{a.port}" in st.stdout  # Ruby's server name, as on the stats page


def test_path_encoded_children_and_missing_path(synapse, zk, http_backend):
    import base64

    a = http_backend()
    port = synapse.add_service("web")
    synapse.start()  # the path does not exist yet: waited for, not dropped
    time.sleep(0.5)
    payload = base64.urlsafe_b64encode(
        json.dumps({"host": "127.0.0.1", "port": a.port, "name": "i-9"}).encode()
    )
    zk.create(
        f"{synapse.path('web')}/base64_{len(payload)}_{payload.decode()}_",
        b"",
        ephemeral=True,
        sequence=True,
        makepath=True,
    )
    wait_for(lambda: get(port) == a.name, 10, message="path-encoded node routed")


def test_outage_keeps_traffic_and_state_file_survives_restart(synapse, tmp_path, http_backend):
    ens = ZooKeeperEnsemble(tmp_path / "own-zk", size=1)
    ens.start()
    try:
        synapse.zk_hosts = ens.hosts
        a, b = http_backend(), http_backend()
        port = synapse.add_service("web")
        client = ens.client()
        register(client, synapse.path("web"), a)
        register(client, synapse.path("web"), b)
        proc = synapse.start()
        wait_for(lambda: synapse.live_servers("web") == {addr(a), addr(b)}, 10, message="both live")
        client.stop()
        ens.stop()  # ZooKeeper gone: sessions and ephemeral nodes will expire on its side
        time.sleep(4)  # past the session timeout
        assert set(spread(port, 20)) == {a.name, b.name}
        assert synapse.live_servers("web") == {addr(a), addr(b)}
        # restart synapse-py and HAProxy during the outage: the state file brings the backends back
        proc.stop()
        synapse.hx.stop_master()
        synapse.start()
        wait_for(
            lambda: set(spread(port, 10)) == {a.name, b.name}, 15, message="served from state file"
        )
    finally:
        ens.stop()


def test_nerve_and_synapse_end_to_end(synapse, zk, tmp_path, http_backend):
    """nerve-py registers two backends; maintenance drops one from HAProxy with no reload."""
    a, b = http_backend(), http_backend()
    port = synapse.add_service("web")
    nerve_cfg = write_json(
        tmp_path / "nerve.json",
        {
            "instance_id": "host-1",
            "state_dir": str(tmp_path / "nerve-state"),
            "services": {
                name: {
                    "host": "127.0.0.1",
                    "port": be.port,
                    "zk_hosts": synapse.zk_hosts.split(","),
                    "zk_path": synapse.path("web"),
                    "check_interval": 0.2,
                    "checks": [{"type": "http", "uri": "/health", "timeout": 1}],
                }
                for name, be in (("web-a", a), ("web-b", b))
            },
        },
    )
    nerve = DaemonProcess("nerve_py", nerve_cfg, tmp_path / "nerve.log").start()
    try:
        synapse.start()
        wait_for(lambda: set(spread(port, 10)) == {a.name, b.name}, 15, message="both routed")
        pid = synapse.worker_pid()
        r = subprocess.run(
            [sys.executable, "-m", "nerve_py.cli", "maint", "down", "web-a", "-c", str(nerve_cfg)],
            capture_output=True,
            text=True,
            timeout=30,
            cwd="/",
        )
        assert r.returncode == 0, r.stderr
        wait_for(
            lambda: synapse.live_servers("web") == {addr(b)}, 5, message="a in maintenance dropped"
        )
        b.healthy = False  # failing health check: gone; the last backend kept? no: nerve deletes it
        wait_for(lambda: not children(zk, synapse.path("web")), 5, message="b deregistered")
        time.sleep(0.5)
        # use_previous_backends (default true): an empty read never empties the backend
        assert synapse.live_servers("web") == {addr(b)}
        assert synapse.worker_pid() == pid
    finally:
        nerve.stop()


def children(zk, path):
    return zk.get_children(path) if zk.exists(path) else []


def test_service_path_deleted_and_recreated(synapse, zk, http_backend):
    a, b = http_backend(), http_backend()
    port = synapse.add_service("web")
    node = register(zk, synapse.path("web"), a)
    synapse.start()
    wait_for(lambda: get(port) == a.name, 10, message="a served")
    zk.delete(node)
    zk.delete(synapse.path("web"))  # the whole path goes: the last membership stays
    time.sleep(0.5)
    assert get(port) == a.name
    register(zk, synapse.path("web"), b)  # the path comes back: watched again
    wait_for(lambda: synapse.live_servers("web") == {addr(b)}, 10, message="b after re-create")
