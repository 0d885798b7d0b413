"""default_servers with Ruby's semantics, on real ZooKeeper and HAProxy: served while ZooKeeper
is unreachable at start, replaced at once (no mass-expiry hold) when discovery finds backends."""

from __future__ import annotations

import json

import pytest
from support.haproxy import spread
from support.procs import wait_for
from support.rigs import SynapseRig, register
from support.zk import ZooKeeperEnsemble

pytestmark = pytest.mark.integration


@pytest.fixture
def synapse(tmp_path, zk_root):
    rig = SynapseRig(tmp_path, "", zk_root)  # hosts: set by the test
    yield rig
    if rig.proc:
        print(f"--- synapse log ---\n{rig.proc.output()[-8000:]}")
    rig.stop()


def test_zookeeper_unreachable_at_start_serves_the_default_servers(synapse, tmp_path, http_backend):
    ens = ZooKeeperEnsemble(tmp_path / "late-zk", size=1)  # not started yet: nothing listens
    defaults = [http_backend(), http_backend()]
    found = http_backend()
    synapse.zk_hosts = ens.hosts
    synapse.use_state_file = False
    port = synapse.add_service("web")
    synapse.services["web"]["default_servers"] = [
        {"name": d.name, "host": d.host, "port": d.port} for d in defaults
    ]
    try:
        synapse.start()
        names = {d.name for d in defaults}
        wait_for(lambda: set(spread(port, 20)) == names, 15, message="default servers served")
        out = synapse.out_dir / "web.json"
        wait_for(out.exists, 5, message="file_output written")
        assert json.loads(out.read_text()) == synapse.services["web"]["default_servers"]
        ens.start()
        client = ens.client()
        register(client, synapse.path("web"), found)
        wait_for(lambda: set(spread(port, 10)) == {found.name}, 20, message="discovery wins")
        client.stop()
    finally:
        ens.stop()
