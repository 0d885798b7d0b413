"""nerve-py on a real ZooKeeper writes the node Ruby nerve wrote, byte for byte, same name.

The main config is the ruby-reference file itself, unchanged; an overlay (the --config-overlay
use case) points it at this test's ZooKeeper and chroot, its checks at a healthy local endpoint
and its state at a temp folder. None of that is in the payload, so the bytes must be Ruby's.
"""

from __future__ import annotations

import json
import re

import pytest
from support.procs import DaemonProcess, wait_for
from support.ruby_nerve_ref import nerve_cases

pytestmark = pytest.mark.integration

NAMES = (
    "n01_minimal_tcp",
    "n05_server_options_empty",
    "n09_labels_non_ascii",
    "n10_path_encoding",
    "n12_ephemeral",
    "n13_ephemeral_path_encoding",
    "n14_http_check_all_fields",
    "n15_port_as_string",
)
CASES = [c for c in nerve_cases() if c.name in NAMES]


def overlay_for(case, tmp_path, zk_hosts: str, zk_root: str, endpoint_port: int):
    (service_name,) = case.config["services"]
    checks = case.config["services"][service_name]["checks"]
    overlay = {
        "state_dir": str(tmp_path / f"state-{case.name}"),
        "zk_session_timeout": 3,
        "services": {
            service_name: {
                "zk_hosts": zk_hosts.split(","),
                "zk_path": zk_root + case.zk_path,
                "checks": [dict(c, host="127.0.0.1", port=endpoint_port) for c in checks],
            }
        },
    }
    path = tmp_path / f"{case.name}.overlay.json"
    path.write_text(json.dumps(overlay))
    return path


def test_cases_exist():
    assert [c.name for c in CASES] == list(NAMES)


def test_nodes_are_rubys(tmp_path, zk, zk_server, zk_root, http_backend):
    endpoint = http_backend()
    procs = []
    for case in CASES:
        overlay = overlay_for(case, tmp_path, zk_server.hosts, zk_root, endpoint.port)
        log = tmp_path / f"{case.name}.log"
        args = ("--config-overlay", str(overlay))
        procs.append(DaemonProcess("nerve_py", case.config_path, log, args).start())
    try:
        for case in CASES:
            _assert_node(zk, zk_root + case.zk_path, case)
        for p in procs:
            assert p.stop() == 0
        assert all(zk.get_children(zk_root + c.zk_path) == [] for c in CASES)
    finally:
        for p in procs:
            p.kill()
            print(f"--- {p.log_path.name}\n{p.output()[-2000:]}")


def _assert_node(zk, path: str, case) -> None:
    children = wait_for(lambda: zk.exists(path) and zk.get_children(path), 30, message=case.name)
    assert len(children) == 1, children
    assert re.fullmatch(case.child_name_pattern, children[0]), (case.name, children[0])
    data, stat = zk.get(f"{path}/{children[0]}")
    assert data == case.data, (case.name, data)
    assert stat.ephemeralOwner != 0
