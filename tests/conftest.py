"""Shared fixtures: real ZooKeeper servers and backend services on loopback."""

from __future__ import annotations

import itertools
import shutil
import uuid

import pytest
from support import rabbitmq
from support.backends import HttpBackend, TcpBackend
from support.zk import ZooKeeperEnsemble

_ENSEMBLES: list[ZooKeeperEnsemble] = []


def _need(binary_path: str, what: str) -> None:
    if not shutil.os.path.exists(binary_path):
        pytest.fail(f"{what} is not installed ({binary_path}); run `make test`", pytrace=False)


def _running(ens: ZooKeeperEnsemble):
    """A fixture body: start the ensemble, stop it afterwards, show its logs if a test fails."""
    _need("/usr/share/java/zookeeper.jar", "ZooKeeper")
    _ENSEMBLES.append(ens)
    ens.start()
    yield ens
    ens.stop()
    _ENSEMBLES.remove(ens)


@pytest.fixture(scope="session")
def zk_server(tmp_path_factory):
    """One single-node ZooKeeper for the session; tests isolate themselves by chroot path."""
    yield from _running(ZooKeeperEnsemble(tmp_path_factory.mktemp("zk"), size=1))


@pytest.fixture
def zk_ensemble(tmp_path):
    """A fresh 3-node ZooKeeper ensemble for fault tests."""
    yield from _running(ZooKeeperEnsemble(tmp_path / "ensemble", size=3))


@pytest.fixture(scope="session")
def rabbitmq_broker(tmp_path_factory):
    """One real RabbitMQ broker for the session (started only by the tests that ask for it)."""
    if not rabbitmq.installed():
        pytest.skip(f"rabbitmq-server is not installed ({rabbitmq.SERVER}); run `make deps`")
    server = rabbitmq.RabbitMqServer(tmp_path_factory.mktemp("rabbitmq"))
    try:
        server.start()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def zk_root() -> str:
    """A unique root path so tests sharing one server never see each other's nodes."""
    return f"/t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def zk(zk_server):
    """A kazoo client on the session server, for test-side reads and writes."""
    client = zk_server.client()
    yield client
    client.stop()
    client.close()


_names = itertools.count()


def _factory(cls, prefix: str):
    """A fixture body: make started backends of `cls` on demand, stop them all afterwards."""
    started = []

    def make(name: str | None = None):
        backend = cls(name or f"{prefix}{next(_names)}").start()
        started.append(backend)
        return backend

    yield make
    for backend in started:
        backend.stop()


@pytest.fixture
def http_backend():
    """Factory for HTTP backends whose `/health` can be flipped with `.healthy`."""
    yield from _factory(HttpBackend, "web")


@pytest.fixture
def tcp_backend():
    """Factory for TCP backends that write their name to each connection."""
    yield from _factory(TcpBackend, "tcp")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (`item.rep_call`, for fixtures that print logs on
    failure) and attach the ZooKeeper server logs to a failed report."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)
    if report.failed and _ENSEMBLES:
        for ens in _ENSEMBLES:
            report.sections.append(("zookeeper logs", ens.logs(30)))
