"""Fixtures for the security tests: certificates, a TLS ZooKeeper, daemons stopped by pid."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from support.ports import free_port
from support.procs import DaemonProcess
from support.secure import issue, make_ca
from support.zk import ZooKeeperEnsemble


@dataclass
class Certs:
    ca: Path
    server_bundle: Path  # key + certificate, as ZooKeeper's PEM keystore wants them
    client_key: Path
    client_cert: Path
    rogue_ca: Path  # a CA that signed nothing the server holds


@pytest.fixture(scope="session")
def certs(tmp_path_factory) -> Certs:
    folder = tmp_path_factory.mktemp("certs")
    ca = make_ca(folder, "test-ca")
    server_key, server_cert = issue(folder, "zk-server", ca, "IP:127.0.0.1,DNS:localhost")
    client_key, client_cert = issue(folder, "zk-client", ca, "DNS:client")
    bundle = folder / "zk-server-bundle.pem"
    bundle.write_text(server_key.read_text() + server_cert.read_text())
    _, rogue = make_ca(folder, "rogue-ca")
    return Certs(ca[1], bundle, client_key, client_cert, rogue)


@dataclass
class TlsZooKeeper:
    ensemble: ZooKeeperEnsemble
    secure_port: int

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.secure_port}"


@pytest.fixture(scope="session")
def zk_tls(tmp_path_factory, certs) -> TlsZooKeeper:
    """A ZooKeeper that serves TLS on a secureClientPort and asks for client certificates.

    Its plain clientPort stays for the fixture's own readiness probe (four-letter words).
    """
    port = free_port()
    ens = ZooKeeperEnsemble(
        tmp_path_factory.mktemp("zk-tls"),
        extra_config=(
            f"secureClientPort={port}",
            "secureClientPortAddress=127.0.0.1",
            "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
            f"ssl.keyStore.location={certs.server_bundle}",
            "ssl.keyStore.type=PEM",
            f"ssl.trustStore.location={certs.ca}",
            "ssl.trustStore.type=PEM",
            "ssl.clientAuth=want",
        ),
    )
    ens.start()
    yield TlsZooKeeper(ens, port)
    ens.stop()


@pytest.fixture
def daemons(tmp_path, request):
    """Start nerve-py/synapse-py processes; all stopped (by pid) at the end, logs on failure."""
    started: list[DaemonProcess] = []

    def start(module: str, config: Path) -> DaemonProcess:
        log = tmp_path / f"{module}-{len(started)}.log"
        proc = DaemonProcess(module, config, log, ("--log-level", "debug")).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
    if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
        for proc in started:
            print(f"--- {proc.log_path} ---\n{proc.output()[-6000:]}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
