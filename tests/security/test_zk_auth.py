"""zk_auth with a real ZooKeeper: nerve-py's nodes are world-readable, writable only by it."""

from __future__ import annotations

import json

import pytest
from kazoo.exceptions import NoAuthError
from kazoo.security import make_acl, make_digest_acl
from support.procs import wait_for
from support.secure import SECRET, nerve_config, synapse_config

from synapse_py.commands import read_membership
from synapse_py.config import load_config

pytestmark = pytest.mark.integration

CREDENTIAL = f"web:{SECRET}"


def registered(zk, path: str) -> list[str]:
    return zk.get_children(path) if zk.exists(path) else []


def test_unauthenticated_client_reads_but_cannot_write_or_delete(
    zk, zk_server, zk_root, tmp_path, daemons
):
    path = f"{zk_root}/web/services"
    config = nerve_config(
        tmp_path / "nerve.json", zk_server.hosts, path, 8080,
        zk_auth={"scheme": "digest", "credential": CREDENTIAL},
    )  # fmt: skip
    nerve = daemons("nerve_py", config)
    [child] = wait_for(lambda: registered(zk, path), 15, message="nerve registered")
    node = f"{path}/{child}"

    data, _ = zk.get(node)  # zk is unauthenticated: reading is allowed
    assert json.loads(data)["port"] == 8080
    for attempt in (
        lambda: zk.set(node, b'{"host": "10.6.6.6", "port": 1, "name": "evil"}'),
        lambda: zk.delete(node),
        lambda: zk.create(f"{path}/evil_", b"{}", sequence=True),
        lambda: zk.delete(path),
        lambda: zk.set_acls(node, [make_acl("world", "anyone", all=True)]),
    ):
        with pytest.raises(NoAuthError):
            attempt()
    assert registered(zk, path) == [child]
    acl_ids = {(a.id.scheme, a.perms) for a in zk.get_acls(node)[0]}
    assert acl_ids == {("world", 1), ("digest", 31)}  # world READ, nerve ALL
    assert {(a.id.scheme, a.perms) for a in zk.get_acls(path)[0]} == acl_ids  # parents it made

    assert nerve.stop() == 0  # SIGTERM deregisters: nerve itself may delete its node
    assert registered(zk, path) == []
    assert SECRET not in nerve.output()


@pytest.mark.parametrize("with_credential", [True, False])
def test_synapse_discovers_with_or_without_credentials(
    zk, zk_server, zk_root, tmp_path, daemons, with_credential
):
    path = f"{zk_root}/web/services"
    auth = {"zk_auth": {"scheme": "digest", "credential": CREDENTIAL}}
    daemons("nerve_py", nerve_config(tmp_path / "nerve.json", zk_server.hosts, path, 8081, **auth))
    wait_for(lambda: registered(zk, path), 15, message="nerve registered")
    extra = {"zk_auth": {"scheme": "digest", "credential": "reader:r"}} if with_credential else {}
    config = load_config(synapse_config(tmp_path / "synapse.json", zk_server.hosts, path, **extra))
    [backend] = read_membership(config, timeout=10)["web"]
    assert (backend.host, backend.port) == ("127.0.0.1", 8081)


def test_wrong_credential_is_a_clear_error(zk, zk_server, zk_root, tmp_path, daemons):
    path = f"{zk_root}/web/services"
    owner = make_digest_acl("web", SECRET, all=True)
    zk.ensure_path(path.rsplit("/", 1)[0])
    zk.create(path, acl=[make_acl("world", "anyone", read=True), owner])  # as an operator would
    config = nerve_config(
        tmp_path / "nerve.json", zk_server.hosts, path, 8082,
        zk_auth={"scheme": "digest", "credential": "web:not-the-password"},
    )  # fmt: skip
    nerve = daemons("nerve_py", config)
    wait_for(lambda: "zk_auth is missing or wrong" in nerve.output(), 15, message="clear error")
    assert registered(zk, path) == []
    assert "not-the-password" not in nerve.output()


def test_credential_file_is_read_and_never_logged(zk, zk_server, zk_root, tmp_path, daemons):
    path = f"{zk_root}/web/services"
    secret_file = tmp_path / "zk.credential"
    secret_file.write_text(CREDENTIAL + "\n")
    secret_file.chmod(0o600)
    config = nerve_config(
        tmp_path / "nerve.json", zk_server.hosts, path, 8083,
        zk_auth={"scheme": "digest", "credential_file": "zk.credential"},
    )  # fmt: skip
    nerve = daemons("nerve_py", config)
    [child] = wait_for(lambda: registered(zk, path), 15, message="nerve registered")
    with pytest.raises(NoAuthError):
        zk.delete(f"{path}/{child}")
    nerve.stop()
    assert SECRET not in nerve.output()
