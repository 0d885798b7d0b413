"""Fixtures of the fault suite: a fresh 3-node ensemble per test, a fleet on it."""

from __future__ import annotations

import pytest
from support.fleet import Fleet


@pytest.fixture
def zk(zk_ensemble):
    """A test-side client on the fault suite's ensemble."""
    client = zk_ensemble.client(timeout=10)
    yield client
    client.stop()
    client.close()


@pytest.fixture
def fleet(tmp_path, zk_ensemble, zk_root, request):
    rig = Fleet(tmp_path, zk_ensemble.hosts, zk_root)
    yield rig
    if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
        print(rig.logs())
    rig.stop()
