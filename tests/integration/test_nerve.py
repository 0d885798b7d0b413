"""nerve-py as a real process against a real ZooKeeper."""

from __future__ import annotations

import base64
import json
import re
import signal
import subprocess
import sys
import time

import pytest
from support.fleet import children, one_child
from support.procs import wait_for
from support.zk import ZooKeeperEnsemble

pytestmark = pytest.mark.integration


def gone(zk, path, timeout=10):
    wait_for(lambda: not children(zk, path), timeout, message=f"no nodes under {path}")


def nerve_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "nerve_py.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )


def test_registers_exact_name_and_payload(nerve, zk, http_backend):
    web = http_backend()
    nerve.write(
        nerve.service(
            "web", web.port, weight=7, labels={"az": "a"}, haproxy_server_options="check inter 2s"
        ),
        instance_id="i-1a",
    )
    nerve.start()
    child = one_child(zk, nerve.path("web"))
    assert re.fullmatch(r"i-1a_\d{10}", child)
    data, stat = zk.get(f"{nerve.path('web')}/{child}")
    assert json.loads(data) == {
        "host": "127.0.0.1",
        "port": web.port,
        "name": "i-1a",
        "weight": 7,
        "haproxy_server_options": "check inter 2s",
        "labels": {"az": "a"},
    }
    assert stat.ephemeralOwner != 0


def test_path_encoding(nerve, zk, http_backend):
    web = http_backend()
    nerve.write(nerve.service("web", web.port, use_path_encoding=True), instance_id="i-2")
    nerve.start()
    child = one_child(zk, nerve.path("web"))
    m = re.fullmatch(r"base64_(\d+)_(.+)_(\d{10})", child)
    assert m, child
    encoded = m.group(2)
    assert len(encoded) == int(m.group(1))
    assert json.loads(base64.urlsafe_b64decode(encoded)) == {
        "host": "127.0.0.1",
        "port": web.port,
        "name": "i-2",
    }


def test_rise_and_fall(nerve, zk, http_backend):
    web = http_backend()
    check = {"type": "http", "uri": "/health", "timeout": 1, "rise": 3, "fall": 2}
    nerve.write(nerve.service("web", web.port, checks=[check]))
    nerve.start()
    one_child(zk, nerve.path("web"))
    web.healthy = False
    gone(zk, nerve.path("web"))
    web.healthy = True
    one_child(zk, nerve.path("web"))


def test_no_registration_while_unhealthy_and_down_on_unreachable(
    nerve, zk, http_backend, tcp_backend
):
    web = http_backend()
    web.healthy = False
    tcp = tcp_backend()
    nerve.write(
        nerve.service("web", web.port),
        nerve.service("db", tcp.port, checks=[{"type": "tcp", "timeout": 1}]),
    )
    nerve.start()
    one_child(zk, nerve.path("db"))
    time.sleep(1.0)  # several check intervals
    assert children(zk, nerve.path("web")) == []
    tcp.stop()
    gone(zk, nerve.path("db"))


def test_maintenance_survives_restart(nerve, zk, http_backend):
    web = http_backend()
    cfg = nerve.write(nerve.service("web", web.port), nerve.service("api", http_backend().port))
    proc = nerve.start()
    one_child(zk, nerve.path("web"))
    r = nerve_cli("maint", "down", "web", "-c", str(cfg))
    assert r.returncode == 0, r.stderr
    gone(zk, nerve.path("web"), timeout=3)
    assert len(children(zk, nerve.path("api"))) == 1
    assert proc.stop() == 0
    nerve.start()
    one_child(zk, nerve.path("api"))
    time.sleep(1.0)
    assert children(zk, nerve.path("web")) == []
    status = nerve_cli("status", "-c", str(cfg))
    assert re.search(r"web\s+up\s+yes", status.stdout), status.stdout
    assert nerve_cli("maint", "up", "--all", "-c", str(cfg)).returncode == 0
    one_child(zk, nerve.path("web"))


def test_sighup_reload(nerve, zk, http_backend):
    ports = {n: http_backend().port for n in ("keep", "change", "drop", "add")}
    nerve.write(*(nerve.service(n, ports[n]) for n in ("keep", "change", "drop")))
    proc = nerve.start()
    keep = f"{nerve.path('keep')}/{one_child(zk, nerve.path('keep'))}"
    keep_czxid = zk.exists(keep).czxid
    old_change = one_child(zk, nerve.path("change"))
    one_child(zk, nerve.path("drop"))
    nerve.write(
        nerve.service("keep", ports["keep"]),
        nerve.service("change", ports["change"], weight=42),
        nerve.service("add", ports["add"]),
    )
    proc.signal(signal.SIGHUP)
    one_child(zk, nerve.path("add"))
    gone(zk, nerve.path("drop"))
    new_change = wait_for(
        lambda: (c := children(zk, nerve.path("change"))) == [c[0]] != [old_change] and c[0],
        10,
        message="changed service re-registered",
    )
    assert json.loads(zk.get(f"{nerve.path('change')}/{new_change}")[0])["weight"] == 42
    assert zk.exists(keep).czxid == keep_czxid  # untouched


def test_sighup_with_bad_config_keeps_running(nerve, zk, http_backend):
    web = http_backend()
    cfg = nerve.write(nerve.service("web", web.port))
    proc = nerve.start()
    child = one_child(zk, nerve.path("web"))
    cfg.write_text("{not json")
    proc.signal(signal.SIGHUP)
    time.sleep(1.0)
    assert proc.proc.poll() is None
    assert children(zk, nerve.path("web")) == [child]
    assert "reload failed" in proc.output()


def test_sigterm_deregisters_and_exits_zero(nerve, zk, http_backend):
    nerve.write(nerve.service("a", http_backend().port), nerve.service("b", http_backend().port))
    proc = nerve.start()
    one_child(zk, nerve.path("a"))
    one_child(zk, nerve.path("b"))
    proc.signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    # gone at once, not after the session timeout
    assert children(zk, nerve.path("a")) == [] and children(zk, nerve.path("b")) == []


def test_reregisters_after_session_expiry(nerve, zk, http_backend):
    nerve.write(nerve.service("web", http_backend().port), zk_session_timeout=2)
    proc = nerve.start()
    first = one_child(zk, nerve.path("web"))
    proc.signal(signal.SIGSTOP)
    try:
        gone(zk, nerve.path("web"), timeout=15)  # the server expires the paused session
    finally:
        proc.signal(signal.SIGCONT)
    second = one_child(zk, nerve.path("web"), timeout=20)
    assert second != first
    assert "session" in proc.output().lower()


def test_kill9_and_restart_leaves_exactly_one_node(nerve, zk, http_backend):
    nerve.write(
        nerve.service("web", http_backend().port),
        nerve.service("api", http_backend().port),
        zk_session_timeout=6,
    )
    for _ in range(3):
        proc = nerve.start()
        one_child(zk, nerve.path("web"))
        one_child(zk, nerve.path("api"))
        proc.kill()
    nerve.start()
    # the leftovers of the killed sessions are replaced at once, not left to expire
    wait_for(
        lambda: (
            len(children(zk, nerve.path("web"))) == 1
            and len(children(zk, nerve.path("api"))) == 1
            and _owned_by_live_session(zk, nerve)
        ),
        5,
        message="exactly one fresh node each",
    )
    time.sleep(7)  # past the old sessions' timeout
    assert len(children(zk, nerve.path("web"))) == 1
    assert len(children(zk, nerve.path("api"))) == 1


def _owned_by_live_session(zk, nerve):
    owners = set()
    for svc in ("web", "api"):
        for c in children(zk, nerve.path(svc)):
            st = zk.exists(f"{nerve.path(svc)}/{c}")
            if st:
                owners.add(st.ephemeralOwner)
    return len(owners) == 1


def test_reconcile_recreates_deleted_node(nerve, zk, http_backend):
    nerve.write(nerve.service("web", http_backend().port))
    nerve.start()
    child = one_child(zk, nerve.path("web"))
    zk.delete(f"{nerve.path('web')}/{child}")
    again = one_child(zk, nerve.path("web"), timeout=15)
    assert again != child


def test_zookeeper_unreachable_at_start(nerve, tmp_path, http_backend):
    ens = ZooKeeperEnsemble(tmp_path / "late-zk", size=1)
    nerve.zk_hosts = ens.hosts
    nerve.write(nerve.service("web", http_backend().port))
    proc = nerve.start()
    time.sleep(2)
    assert proc.proc.poll() is None
    ens.start()
    try:
        client = ens.client()
        one_child(client, nerve.path("web"), timeout=20)
        client.stop()
    finally:
        proc.stop()
        ens.stop()


def test_reregisters_after_zookeeper_outage(nerve, tmp_path, http_backend):
    ens = ZooKeeperEnsemble(tmp_path / "outage-zk", size=1)
    ens.start()
    nerve.zk_hosts = ens.hosts
    nerve.write(nerve.service("web", http_backend().port), zk_session_timeout=2)
    proc = nerve.start()
    try:
        client = ens.client()
        one_child(client, nerve.path("web"))
        client.stop()
        ens.stop()
        time.sleep(4)  # longer than the session timeout: the session is gone for good
        assert proc.proc.poll() is None
        ens.start()
        client = ens.client()
        one_child(client, nerve.path("web"), timeout=30)
        client.stop()
    finally:
        proc.stop()
        ens.stop()


def test_heartbeat_file(nerve, zk, http_backend, tmp_path):
    hb = tmp_path / "heartbeat"
    nerve.write(nerve.service("web", http_backend().port), heartbeat_path=str(hb))
    nerve.start()
    first = int(wait_for(lambda: hb.exists() and hb.read_text().strip(), 10, message="heartbeat"))
    wait_for(lambda: int(hb.read_text().strip() or 0) > first, 5, message="heartbeat advances")


def test_ensemble_leader_killed_keeps_registration(nerve, zk_ensemble, http_backend):
    nerve.zk_hosts = zk_ensemble.hosts
    nerve.write(nerve.service("web", http_backend().port), zk_session_timeout=6)
    nerve.start()
    client = zk_ensemble.client(timeout=10)
    try:
        child = one_child(client, nerve.path("web"))
        zk_ensemble.leader().kill()
        time.sleep(4)  # re-election; the session survives on the remaining quorum
        after = wait_for(lambda: _safe_children(client, nerve.path("web")), 20, message="readable")
        assert after == [child]
    finally:
        client.stop()


def _safe_children(client, path):
    try:
        return children(client, path)
    except Exception:  # noqa: BLE001 - the ensemble is electing a leader
        return None
