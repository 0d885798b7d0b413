"""The real synapse-py daemon on reference cases: the haproxy.cfg it writes is equivalent to Ruby's.

The daemon runs the case's config as Ruby ran it (do_writes, no reloads, no socket) against real
ZooKeeper; its file is compared as in test_ruby_haproxy, and s18's znode data is then changed
while it runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from compat.ruby_cases import Case, compare, haproxy_check, our_sections
from support.haproxy import wait_for
from support.procs import DaemonProcess

pytestmark = pytest.mark.integration
USUAL = {"section-order"}


def run_case(case: Case, tmp_path, zk, zk_server, zk_root, **haproxy):
    case.create_nodes(zk, zk_root)
    config = case.write_config(tmp_path, zk_server.hosts, zk_root, **haproxy)
    daemon = DaemonProcess("synapse_py", config, tmp_path / "synapse.log").start()
    cfg = tmp_path / "haproxy.cfg"
    assert wait_for(cfg.exists, 20), daemon.output()[-3000:]
    return daemon, cfg


@pytest.mark.parametrize("name", ["s05_bind_and_frontends", "s14_listen_filtering"])
def test_the_daemon_writes_rubys_haproxy_cfg(name, tmp_path, zk, zk_server, zk_root):
    case = Case.load(name)
    daemon, cfg = run_case(case, tmp_path, zk, zk_server, zk_root)
    try:
        assert compare(case, cfg.read_text(), USUAL) == []
        assert haproxy_check(cfg).returncode == 0
        if name.startswith("s14"):  # the lines Ruby drops are said once
            assert daemon.output().count("'bogus directive here'") == 1
    finally:
        daemon.stop()


def test_a_trusted_service_znodes_haproxy_config_is_followed_live(tmp_path, zk, zk_server, zk_root):
    case = Case.load("s18_zk_parent_generator_config")
    daemon, cfg = run_case(case, tmp_path, zk, zk_server, zk_root, trust_registry_config=True)
    path = zk_root + case.nodes[0]["path"]
    try:
        assert compare(case, cfg.read_text(), USUAL) == []
        zk.set(path, json.dumps({"haproxy": {"port": 4598, "listen": ["mode http"]}}).encode())
        assert wait_for(lambda: "bind 127.0.0.1:4598" in cfg.read_text(), 10)
        zk.set(path, b'{"haproxy": {"port": 4597, "listen": ["x\\ny"]}}')  # refused: local
        assert wait_for(lambda: "bind 127.0.0.1:4501" in cfg.read_text(), 10)
        assert "control character" in daemon.output()
        assert haproxy_check(cfg).returncode == 0
    finally:
        daemon.stop()


def test_an_untrusted_service_znodes_haproxy_config_is_ignored(tmp_path, zk, zk_server, zk_root):
    case = Case.load("s18_zk_parent_generator_config")
    daemon, cfg = run_case(case, tmp_path, zk, zk_server, zk_root)
    try:
        backend = our_sections(cfg.read_text())["backend zc"]
        assert backend.lines == ["mode http"] and "frontend zc" in cfg.read_text()
        assert "bind 127.0.0.1:4501" in Path(cfg).read_text()  # the local port, not 4599
        assert "trust_registry_config" in daemon.output()
    finally:
        daemon.stop()
