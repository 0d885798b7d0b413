"""Fixtures that run nerve-py and synapse-py against the session ZooKeeper; Envoy; dnsmasq."""

from __future__ import annotations

import pytest
from support import dnsmasq
from support.envoy import EnvoyRig, envoy_binary, runs
from support.rigs import NerveRig, SynapseRig


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


@pytest.fixture
def dns_server(tmp_path, request):
    """A real dnsmasq on a loopback port (tests/support/dnsmasq.py), records from `set_hosts`."""
    if dnsmasq.binary() is None:
        pytest.skip("dnsmasq is not installed (Debian package dnsmasq-base); run `make deps`")
    server = dnsmasq.Dnsmasq(tmp_path / "dnsmasq").start()
    yield server
    server.stop()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"--- dnsmasq log ---\n{server.tail()}")


@pytest.fixture(scope="session")
def envoy():
    """The Envoy binary of .venv-envoy (a test fails without it; skipped where it cannot run)."""
    found = envoy_binary()
    if found is None:
        pytest.fail("no Envoy in .venv-envoy; run `make envoy-venv`", pytrace=False)
    why_not = runs(found)
    if why_not:
        pytest.skip(why_not)
    return found


@pytest.fixture(scope="session")
def binary(envoy):
    """The Envoy binary, under the name some tests use."""
    return envoy


@pytest.fixture
def envoy_rig(tmp_path, zk_server, zk_root, envoy, request):
    """synapse-py with only the Envoy generator, and an Envoy on its files (support/envoy.py)."""
    rig = EnvoyRig(tmp_path, zk_server.hosts, zk_root, envoy)
    yield rig
    failed = getattr(request.node, "rep_call", None) and request.node.rep_call.failed
    if failed:
        for proc in (rig.synapse, rig.envoy):
            if proc:
                print(f"--- {proc.log_path.name} ---\n{proc.output()[-6000:]}")
    rig.stop()
