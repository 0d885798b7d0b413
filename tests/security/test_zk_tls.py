"""zk_tls with a real ZooKeeper on a TLS secureClientPort (Netty, PEM keystores)."""

from __future__ import annotations

import time

import pytest
from support.procs import wait_for
from support.secure import nerve_config, synapse_config

from synapse_py.commands import read_membership
from synapse_py.config import load_config

pytestmark = pytest.mark.integration


def tls(certs, ca=None) -> dict:
    return {
        "ca": str(ca or certs.ca),
        "cert": str(certs.client_cert),
        "key": str(certs.client_key),
        "verify_hostname": True,
    }


@pytest.fixture
def plain(zk_tls):
    """A client on the same server's plain port, to look at what the daemons did."""
    client = zk_tls.ensemble.client()
    yield client
    client.stop()
    client.close()


def test_registration_and_discovery_over_tls(zk_tls, certs, plain, zk_root, tmp_path, daemons):
    path = f"{zk_root}/web/services"
    conf = nerve_config(tmp_path / "nerve.json", zk_tls.hosts, path, 9090, zk_tls=tls(certs))
    nerve = daemons("nerve_py", conf)
    wait_for(lambda: plain.exists(path) and plain.get_children(path), 20, message="registered")
    syn = synapse_config(tmp_path / "synapse.json", zk_tls.hosts, path, zk_tls=tls(certs))
    [backend] = read_membership(load_config(syn), timeout=10)["web"]
    assert (backend.host, backend.port) == ("127.0.0.1", 9090)
    assert nerve.stop() == 0
    assert plain.get_children(path) == []


def test_a_server_with_an_untrusted_certificate_is_refused(
    zk_tls, certs, plain, zk_root, tmp_path, daemons
):
    path = f"{zk_root}/web/services"
    rogue = tls(certs, ca=certs.rogue_ca)  # trusts a CA that did not sign the server's certificate
    nerve = daemons(
        "nerve_py", nerve_config(tmp_path / "nerve.json", zk_tls.hosts, path, 9091, zk_tls=rogue)
    )
    wait_for(lambda: "CERTIFICATE_VERIFY_FAILED" in nerve.output(), 20, message="refusal logged")
    time.sleep(1)
    assert not plain.exists(path)
    syn = synapse_config(tmp_path / "synapse.json", zk_tls.hosts, path, zk_tls=rogue)
    with pytest.raises(Exception, match="time-out|timed out|Timeout"):
        read_membership(load_config(syn), timeout=3)


def test_plain_client_cannot_speak_to_the_tls_port(zk_tls, zk_root, tmp_path):
    """Misconfiguration (no zk_tls against a TLS port) fails instead of sending data in clear."""
    syn = synapse_config(tmp_path / "synapse.json", zk_tls.hosts, f"{zk_root}/web/services")
    with pytest.raises(Exception, match="time-out|timed out|Timeout"):
        read_membership(load_config(syn), timeout=3)
