"""Fixtures that run nerve-py and synapse-py against the session ZooKeeper, and Envoy."""

from __future__ import annotations

import pytest
from support.envoy import envoy_binary, runs
from support.rigs import NerveRig, SynapseRig


@pytest.fixture(scope="session")
def binary():
    """The Envoy binary in .venv-envoy (`make envoy-venv`); skipped where Envoy cannot run."""
    found = envoy_binary()
    if found is None:
        pytest.fail("no Envoy in .venv-envoy; run `make envoy-venv`", pytrace=False)
    why_not = runs(found)
    if why_not:
        pytest.skip(why_not)
    return found


@pytest.fixture
def nerve(tmp_path, zk_server, zk_root, request):
    rig = NerveRig(tmp_path, zk_server.hosts, zk_root)
    yield rig
    rig.stop_all()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        for p in rig.procs:
            print(f"--- {p.log_path} ---\n{p.output()[-6000:]}")


@pytest.fixture
def synapse(tmp_path, zk_server, zk_root, request):
    rig = SynapseRig(tmp_path, zk_server.hosts, zk_root)
    yield rig
    failed = getattr(request.node, "rep_call", None) and request.node.rep_call.failed
    if failed and rig.proc:
        print(f"--- synapse log ---\n{rig.proc.output()[-8000:]}")
    rig.stop()
