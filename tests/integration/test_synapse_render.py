"""`synapse-py render` prints what a running synapse-py installs; `render --diff` compares."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.ports import free_port
from support.procs import wait_for
from support.rigs import register

pytestmark = pytest.mark.integration


def _servers_in_file(path: str) -> int:
    text = Path(path).read_text() if Path(path).exists() else ""
    return sum(1 for line in text.splitlines() if line.strip().startswith("server "))


def test_render_prints_byte_for_byte_what_synapse_py_installed(synapse, zk, http_backend):
    # no server_order_seed and no backend_order: the daemon draws a seed and shuffles
    backends = [http_backend() for _ in range(6)]
    synapse.haproxy_extra["stats"] = {"enabled": True, "port": free_port(), "prometheus": True}
    synapse.haproxy_extra["shared_frontend"] = [f"bind 127.0.0.1:{free_port()}"]
    synapse.add_service("web")
    synapse.add_service("api", backend_name="api_be", server_options="check inter 2s")
    for b in backends[:4]:
        register(zk, synapse.path("web"), b)
    for b in backends[4:]:
        register(zk, synapse.path("api"), b, weight=7)
    synapse.start()
    wait_for(lambda: _servers_in_file(synapse.hx.config) == 6, 10, message="six servers installed")
    synapse.proc.stop()  # the file is final: nothing can change it while render reads ZooKeeper
    installed = Path(synapse.hx.config).read_text()
    assert "stats socket" in installed
    r = synapse.cli("render")
    assert r.returncode == 0, r.stderr
    assert r.stdout == installed

    same = synapse.cli("render", "--diff")
    assert (same.returncode, same.stdout) == (0, ""), same.stderr
    register(zk, synapse.path("web"), http_backend())  # one more: render differs from the file
    other = synapse.cli("render", "--diff")
    assert other.returncode == 1, other.stderr
    lines = other.stdout.splitlines()
    assert lines[0] == f"--- {synapse.hx.config}" and lines[1].startswith("+++ ")
    added = [line for line in lines if line.startswith("+  server ")]
    assert len(added) >= 1 and not any(line.startswith("+++") for line in lines[2:])
