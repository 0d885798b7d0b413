"""`nerve-py status` and `synapse-py status` against real daemons, ZooKeeper and HAProxy: the
exit code says whether the daemon runs, `--json` is a stable document, synapse-py marks the
backends it keeps rather than sees live, and an unreachable ZooKeeper is named, not waited on
in silence."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support.fleet import one_child
from support.ports import free_port
from support.procs import wait_for
from support.rigs import register
from support.zk import ZooKeeperEnsemble

pytestmark = pytest.mark.integration

NOT_RUNNING = 3  # LSB's "program is not running", smartstack_common.cli.EXIT_NOT_RUNNING


def nerve_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nerve_py.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )


def as_json(r: subprocess.CompletedProcess) -> dict:
    assert r.stdout.strip(), r.stderr
    return json.loads(r.stdout)


# -- nerve-py ---------------------------------------------------------------------------------


def test_nerve_status_exits_3_before_start_and_right_after_a_clean_stop(nerve, zk, http_backend):
    cfg = str(nerve.write(nerve.service("web", http_backend().port)))
    before = nerve_cli("status", "-c", cfg)
    assert before.returncode == NOT_RUNNING, before.stdout + before.stderr
    assert "nerve-py is not running" in before.stderr
    proc = nerve.start()
    one_child(zk, nerve.path("web"))
    wait_for(lambda: nerve_cli("status", "-c", cfg).returncode == 0, 10, message="running")
    assert proc.stop() == 0
    after = nerve_cli("status", "--json", "-c", cfg)  # the status file is still fresh here
    assert after.returncode == NOT_RUNNING, after.stdout + after.stderr
    assert as_json(after)["daemon"]["running"] is False


def test_nerve_status_json_has_each_service_and_check(nerve, zk, http_backend):
    web, sick = http_backend(), http_backend()
    sick.healthy = False
    cfg = str(nerve.write(nerve.service("web", web.port), nerve.service("sick", sick.port)))
    nerve.start()
    one_child(zk, nerve.path("web"))

    def document() -> dict:
        r = nerve_cli("status", "--json", "-c", cfg)
        return as_json(r) if r.returncode == 0 else {}

    doc = wait_for(lambda: (d := document()) and d["services"]["sick"]["checks"] and d, 10)
    assert doc["program"] == "nerve-py" and doc["version"] == 1
    assert doc["daemon"]["running"] is True and isinstance(doc["daemon"]["pid"], int)
    up, down = doc["services"]["web"], doc["services"]["sick"]
    assert up["health"] == "up" and up["maintenance"] is False
    assert up["node"].startswith(nerve.path("web") + "/") and up["node_state"] == "present"
    assert [c["up"] for c in up["checks"]] == [True]
    assert down["health"] == "down" and down["node"] is None and down["node_state"] == "none"
    (check,) = down["checks"]
    assert check["up"] is False and check["ok"] is False and check["reason"]
    assert set(check) == {"name", "ok", "up", "reason"}


def test_nerve_status_names_an_unreachable_zookeeper_and_gives_up(
    nerve, zk, tmp_path, http_backend
):
    """The running daemon claims a node; the ensemble `status` asks accepts connections and
    never answers (a SIGSTOPped ZooKeeper). The daemon itself uses a working one: a daemon
    that lost ZooKeeper soon claims no node, so nothing would be asked."""
    port = http_backend().port
    daemon_cfg = str(nerve.write(nerve.service("web", port)))
    proc = nerve.start()
    one_child(zk, nerve.path("web"))

    def claimed() -> bool:  # the daemon's status file, written after the node, says so too
        r = nerve_cli("status", "--json", "-c", daemon_cfg)
        return r.returncode == 0 and as_json(r)["services"]["web"]["node_state"] == "present"

    wait_for(claimed, 10, message="the daemon's status file names its node")
    ens = ZooKeeperEnsemble(tmp_path / "status-zk", size=1)
    ens.start()
    nerve.zk_hosts, nerve.config_path = ens.hosts, tmp_path / "status-view.json"
    cfg = str(nerve.write(nerve.service("web", port)))  # the same state_dir, the paused ensemble
    ens.nodes[0].pause()
    try:
        r = nerve_cli("status", "--timeout", "1", "-c", cfg)
    finally:
        ens.nodes[0].resume()
        ens.stop()
        proc.stop()
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.splitlines() == [
        f"nerve-py: asking ZooKeeper {ens.hosts} whether 1 node(s) exist (up to 1s)",
        f"nerve-py: ZooKeeper {ens.hosts} did not answer within 1s",
    ]
    assert "(ZooKeeper unreachable)" in r.stdout  # the node column of the table


# -- synapse-py -------------------------------------------------------------------------------


def servers(doc: dict, service: str) -> dict[str, dict]:
    return {b["address"]: b for b in doc["services"][service]["backends"]}


def test_synapse_status_exits_3_when_synapse_py_stopped_and_haproxy_serves(
    synapse, zk, http_backend
):
    a = http_backend()
    synapse.add_service("web")
    register(zk, synapse.path("web"), a)
    synapse.start()
    addr = f"127.0.0.1:{a.port}"
    wait_for(lambda: synapse.live_servers("web") == {addr}, 10, message="live")
    running = synapse.cli("status", "--json")
    assert running.returncode == 0, running.stderr
    doc = as_json(running)
    assert doc["program"] == "synapse-py" and doc["version"] == 1
    assert doc["daemon"]["running"] is True
    web = servers(doc, "web")[addr]
    assert web["server"] == f"{a.name}_{addr}" and web["kept"] is None
    assert web["health"] == "UP" and web["admin"] == "ready"

    assert synapse.proc.stop() == 0  # HAProxy keeps serving: its socket answers
    stopped = synapse.cli("status")
    assert stopped.returncode == NOT_RUNNING, stopped.stdout + stopped.stderr
    assert "synapse-py is not running" in stopped.stderr
    assert addr in stopped.stdout  # HAProxy's servers are still shown


def test_synapse_status_marks_backends_kept_by_use_previous_backends(synapse, zk, http_backend):
    a, b = http_backend(), http_backend()
    synapse.add_service("web")
    nodes = [register(zk, synapse.path("web"), x) for x in (a, b)]
    synapse.start()
    live = {f"127.0.0.1:{x.port}" for x in (a, b)}
    wait_for(lambda: synapse.live_servers("web") == live, 10, message="live")
    for node in nodes:
        zk.delete(node)  # an empty read: use_previous_backends keeps both
    wait_for(lambda: "use_previous_backends" in synapse.proc.output(), 10, message="kept")

    def kept() -> dict:
        r = synapse.cli("status", "--json")
        found = servers(as_json(r), "web") if r.returncode == 0 else {}
        return found if all(s["kept"] for s in found.values()) and found else {}

    found = wait_for(kept, 10, message="status shows them kept")
    assert set(found) == live
    for server in found.values():
        assert server["kept"]["reason"] == "use_previous_backends"
        assert server["kept"]["age_seconds"] >= 0
    table = synapse.cli("status")
    assert "kept: use_previous_backends" in table.stdout, table.stdout


def test_synapse_status_marks_a_mass_expiry_hold(synapse, zk, http_backend):
    fleet = [http_backend() for _ in range(4)]
    synapse.add_service("web")
    nodes = [register(zk, synapse.path("web"), x) for x in fleet]
    synapse.start()
    wait_for(lambda: len(synapse.live_servers("web")) == 4, 10, message="four live")
    for node in nodes[1:]:
        zk.delete(node)  # 3 of 4 at once: held for mass_expiry_grace (30 s)
    wait_for(lambda: "mass expiry" in synapse.proc.output(), 10, message="hold")

    def held() -> dict:
        r = synapse.cli("status", "--json")
        found = servers(as_json(r), "web") if r.returncode == 0 else {}
        return found if sum(bool(s["kept"]) for s in found.values()) == 3 else {}

    found = wait_for(held, 10, message="status shows the hold")
    assert found[f"127.0.0.1:{fleet[0].port}"]["kept"] is None  # still registered: live
    reasons = {s["kept"]["reason"] for s in found.values() if s["kept"]}
    assert reasons == {"mass_expiry"}


def test_synapse_status_marks_backends_seeded_from_the_state_file(synapse, zk, http_backend):
    a = http_backend()
    synapse.add_service("web")
    register(zk, synapse.path("web"), a)
    synapse.start()
    addr = f"127.0.0.1:{a.port}"
    wait_for(lambda: synapse.live_servers("web") == {addr}, 10, message="live")
    wait_for(lambda: addr.split(":")[1] in synapse.state_path.read_text(), 10, message="saved")
    assert synapse.proc.stop() == 0
    # restart against a ZooKeeper that is not there: the state file's backends are served
    synapse.services["web"]["discovery"]["hosts"] = [f"127.0.0.1:{free_port()}"]
    synapse.start()

    def seeded() -> dict:
        r = synapse.cli("status", "--json")
        found = servers(as_json(r), "web") if r.returncode == 0 else {}
        return found if found.get(addr, {}).get("kept") else {}

    kept = wait_for(seeded, 10, message="status shows the seed")[addr]["kept"]
    assert kept["reason"] == "state_file" and kept["age_seconds"] >= 0
