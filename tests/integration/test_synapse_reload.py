"""synapse-py SIGHUP as a real process: what a reload cannot apply is said, not silently kept."""

from __future__ import annotations

import signal

import pytest
from support.procs import wait_for
from support.rigs import register

pytestmark = pytest.mark.integration

SECRET = "reload-secret-xyz"


def reloads(proc) -> int:
    return proc.output().count("config reloaded")


def test_sighup_changing_zookeeper_session_settings_says_they_need_a_restart(
    synapse, zk, http_backend, tmp_path
):
    a, b = http_backend(), http_backend()
    synapse.add_service("web")
    register(zk, synapse.path("web"), a)
    proc = synapse.start()
    wait_for(lambda: synapse.live_servers("web") == {f"127.0.0.1:{a.port}"}, 10, message="ready")
    (tmp_path / "ca.pem").write_text("not used: the running sessions keep no TLS\n")
    synapse.session_timeout = 7
    synapse.extra = {
        "zk_auth": {"scheme": "digest", "credential": f"synapse:{SECRET}"},
        "zk_tls": {"ca": str(tmp_path / "ca.pem")},
    }
    synapse.write().chmod(0o600)
    proc.signal(signal.SIGHUP)
    wait_for(lambda: reloads(proc) == 1, 10, message="config reloaded")
    log = proc.output()
    for key in ("zk_session_timeout", "zk_auth", "zk_tls"):
        assert f"{key} changed: takes effect on restart" in log
    assert SECRET not in log
    register(zk, synapse.path("web"), b)  # the old session still serves membership changes
    wait_for(lambda: len(synapse.live_servers("web")) == 2, 10, message="b added after reload")
    synapse.session_timeout, synapse.extra = 3, {}  # back to what the sessions use: no warning
    synapse.write()
    proc.signal(signal.SIGHUP)
    wait_for(lambda: reloads(proc) == 2, 10, message="second reload")
    assert proc.output().count("takes effect on restart") == 3
