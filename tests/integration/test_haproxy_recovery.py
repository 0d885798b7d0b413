"""synapse-py notices, by itself, an HAProxy killed, a deleted admin socket, a foreign reload."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from support.haproxy import get, spread
from support.procs import wait_for
from support.rigs import register

pytestmark = pytest.mark.integration

DOWN = "HAProxy does not answer on its admin socket"


def addr(backend) -> str:
    return f"127.0.0.1:{backend.port}"


def started(synapse, zk, *backends) -> int:
    port = synapse.add_service("web")
    for b in backends:
        register(zk, synapse.path("web"), b)
    synapse.start()
    want = {addr(b) for b in backends}
    wait_for(lambda: synapse.live_servers("web") == want, 10, message="members live")
    return port


def test_haproxy_killed_is_restarted_without_a_membership_change(synapse, zk, http_backend):
    a, b = http_backend(), http_backend()
    port = started(synapse, zk, a, b)
    master, worker = synapse.hx.master_pid(), int(synapse.worker_pid())
    os.kill(worker, signal.SIGKILL)
    os.kill(master, signal.SIGKILL)
    wait_for(lambda: get(port) is None, 5, message="HAProxy gone")
    wait_for(lambda: set(spread(port, 10)) == {a.name, b.name}, 20, message="HAProxy back")
    assert synapse.worker_pid() not in (None, str(worker))
    assert synapse.proc.output().count(DOWN) == 1


def test_deleted_admin_socket_is_recreated_and_used_again(synapse, zk, http_backend):
    a, b = http_backend(), http_backend()
    port = started(synapse, zk, a)
    old = synapse.worker_pid()
    os.unlink(synapse.hx.socket)
    wait_for(lambda: synapse.worker_pid() not in (None, old), 20, message="a new admin socket")
    pid = synapse.worker_pid()
    register(zk, synapse.path("web"), b)
    wait_for(lambda: synapse.live_servers("web") == {addr(a), addr(b)}, 10, message="b added")
    assert set(spread(port, 20)) == {a.name, b.name}
    assert synapse.worker_pid() == pid  # the change went through the runtime API
    assert synapse.proc.output().count(DOWN) == 1


def test_reload_by_someone_else_from_a_stale_file_is_corrected(synapse, zk, http_backend):
    a, b = http_backend(), http_backend()
    port = started(synapse, zk, a)
    config = Path(synapse.hx.config)
    wait_for(lambda: addr(a) in config.read_text(), 10, message="a in haproxy.cfg")
    stale = config.read_text()
    register(zk, synapse.path("web"), b)
    wait_for(lambda: addr(b) in config.read_text(), 10, message="b in haproxy.cfg")
    current, pid = config.read_text(), synapse.worker_pid()
    config.write_text(stale)  # an operator reloads HAProxy from an old copy of the file
    os.kill(synapse.hx.master_pid(), signal.SIGUSR2)
    wait_for(lambda: synapse.worker_pid() not in (None, pid), 10, message="foreign reload")
    config.write_text(current)
    wait_for(lambda: synapse.live_servers("web") == {addr(a), addr(b)}, 10, message="corrected")
    assert set(spread(port, 20)) == {a.name, b.name}
    assert "without a reload by synapse-py" in synapse.proc.output()
