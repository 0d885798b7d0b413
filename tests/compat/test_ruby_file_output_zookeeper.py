"""file_output on real ZooKeeper: the znodes of ruby-reference s13 and s16, created in the
recorded order, read by synapse-py as a process; the files equal Ruby's byte for byte (s16's
documented duplicate aside) and the files Ruby deleted are deleted."""

from __future__ import annotations

import json

import pytest
from support import ruby_nodes
from support.ports import free_port
from support.procs import wait_for
from support.rigs import SynapseRig

pytestmark = pytest.mark.integration

CASES = ("s13_generator_disabled", "s16_child_decoding")


@pytest.fixture
def synapse(tmp_path, zk_server, zk_root):
    rig = SynapseRig(tmp_path, zk_server.hosts, zk_root)
    yield rig
    if rig.proc:
        print(f"--- synapse log ---\n{rig.proc.output()[-8000:]}")
    rig.stop()


def add_case(rig: SynapseRig, zk, case: str) -> dict[str, bytes]:
    """The case's services (under the test's root, on free ports) and znodes; Ruby's files."""
    services = json.loads((ruby_nodes.REFERENCE / f"{case}.config.json").read_text())["services"]
    for name, service in services.items():
        service["discovery"].update(hosts=rig.zk_hosts.split(","))
        service["discovery"]["path"] = rig.zk_root + service["discovery"]["path"]
        service["haproxy"]["port"] = free_port()
        rig.services[name] = service
    for node in ruby_nodes.nodes(case):
        zk.create(f"{rig.zk_root}{node.path}/{node.child}", node.data.encode(), makepath=True)
    return ruby_nodes.KNOWN.get(case, lambda files: files)(ruby_nodes.ruby_files(case))


def test_file_output_from_real_zookeeper_equals_rubys(synapse, zk):
    expected: dict[str, bytes] = {}
    for case in CASES:
        expected.update(add_case(synapse, zk, case))
    synapse.out_dir.mkdir()
    for stale in ("stale.json", "fo_hidden.json"):  # as in s13: Ruby deleted both
        (synapse.out_dir / stale).write_text("[]")
    synapse.start()

    def files() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(synapse.out_dir.glob("*.json"))}

    wait_for(lambda: files() == expected, 15, message="file_output equals Ruby's")
