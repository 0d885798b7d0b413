"""Ruby synapse config behaviours on real ZooKeeper and HAProxy: Ruby's candidate check, and a
small service's scale-down applied at once (as Ruby applies every change)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.haproxy import HAPROXY, HaproxyFiles, spread
from support.haproxy_rig import DEFAULTS, Rig
from support.ports import free_port
from support.procs import wait_for
from support.rigs import register

from synapse_py.backend import Backend
from synapse_py.config import DiscoveryConfig, HaproxyConfig, ServiceConfig, ServiceHaproxyConfig
from synapse_py.generators.haproxy.generator import HaproxyGenerator

pytestmark = pytest.mark.integration


def test_rubys_candidate_file_and_check_command_accept_a_good_config(tmp_path, http_backend):
    """Ruby writes the candidate to candidate_config_file_path and runs check_command on it; a
    Ruby-style command (`haproxy -c -f <that path>`) must pass a good config (on fc1ff2a the
    file was never written there, so every config was refused and HAProxy never started)."""
    files = HaproxyFiles(tmp_path)
    candidate = tmp_path / "haproxy.cfg.candidate"
    check = f"{HAPROXY} -c -f {candidate}"
    rig = Rig(files, do_checks=True, check_command=check, candidate_config_file_path=str(candidate))
    gen = rig.gen
    try:
        a, port = http_backend(), free_port()
        web = ServiceConfig("web", DiscoveryConfig("base"), ServiceHaproxyConfig(port=port))
        gen.apply((web,), {"web": (Backend(a.host, a.port, a.name),)})
        assert gen.flush(10)
        assert gen.failed_validations == 0 and gen.reloads == 1
        assert set(spread(port, 10)) == {a.name}
        assert candidate.read_text() == Path(files.config).read_text()
        assert candidate.stat().st_mode & 0o777 == 0o600
    finally:
        gen.stop()
        files.stop()


def test_a_refusing_check_command_on_the_candidate_keeps_the_config_out(tmp_path):
    files = HaproxyFiles(tmp_path)
    candidate = tmp_path / "candidate.cfg"
    config = HaproxyConfig(
        defaults=DEFAULTS,
        config_file_path=files.config,
        do_reloads=False,
        do_socket=False,
        do_checks=True,
        check_command=f"! grep -q leastconn {candidate}",  # the site's rule: no leastconn
        candidate_config_file_path=str(candidate),
    )
    gen = HaproxyGenerator(config, haproxy_bin=HAPROXY)
    try:
        haproxy = ServiceHaproxyConfig(port=free_port(), backend=("balance leastconn",))
        web = ServiceConfig("web", DiscoveryConfig("base"), haproxy)
        gen.apply((web,), {"web": (Backend("127.0.0.1", 8080, "a"),)})
        gen.flush(10)
        assert gen.failed_validations == 1 and not Path(files.config).exists()
        assert "leastconn" in candidate.read_text()  # what was checked stays for the operator
    finally:
        gen.stop()
        files.stop()


def test_two_of_three_leaving_is_applied_at_once(synapse, zk, http_backend):
    """An ordinary scale-down of a small service is not a mass expiry: on fc1ff2a it was held
    for mass_expiry_grace (30 s); Ruby synapse applies it at once, and so do we."""
    a, b, c = (http_backend() for _ in range(3))
    port = synapse.add_service("web")
    nodes = [register(zk, synapse.path("web"), backend) for backend in (a, b, c)]
    synapse.start()
    live = {f"127.0.0.1:{x.port}" for x in (a, b, c)}
    wait_for(lambda: synapse.live_servers("web") == live, 10, message="a, b, c live")
    left = time.monotonic()
    zk.delete(nodes[1])
    zk.delete(nodes[2])
    wait_for(lambda: synapse.live_servers("web") == {f"127.0.0.1:{a.port}"}, 5, message="b, c gone")
    assert time.monotonic() - left < 5
    assert set(spread(port, 10)) == {a.name}
    assert "mass expiry" not in synapse.proc.output()
