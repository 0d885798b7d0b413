"""zk_auth and zk_tls in the nerve config: loading, refusals, warnings; secrets never shown."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from support.secure import nerve_config

from nerve_py.cli import main
from nerve_py.config import load_config
from nerve_py.errors import ConfigError
from nerve_py.zk_security import node_acl
from smartstack_common.zk_security import ZkAuth

SECRET = "hunter2-xyz"


def write(folder, mode=0o600, **top):
    path = nerve_config(folder / "nerve.json", "127.0.0.1:2181", "/web", **top)
    path.chmod(mode)
    return path


def test_inline_credential_gives_kazoo_auth_data_and_an_acl(tmp_path):
    config = load_config(
        write(tmp_path, zk_auth={"scheme": "digest", "credential": f"web:{SECRET}"})
    )
    assert config.zk_security.client_options() == {"auth_data": [("digest", f"web:{SECRET}")]}
    assert SECRET not in repr(config)
    world, own = node_acl(config.zk_security.auth)
    assert (world.id.scheme, world.perms) == ("world", 1)
    assert (own.id.scheme, own.id.id.split(":")[0], own.perms) == ("digest", "web", 31)
    assert node_acl(None) is None


def test_credential_file_is_read_relative_to_the_config_and_refused_if_world_readable(tmp_path):
    (tmp_path / "cred").write_text(f"web:{SECRET}\n")
    (tmp_path / "cred").chmod(0o640)
    auth = {"scheme": "digest", "credential_file": "cred"}
    assert load_config(write(tmp_path, zk_auth=auth)).zk_security.auth == ZkAuth(
        "digest", f"web:{SECRET}"
    )
    (tmp_path / "cred").chmod(0o644)
    with pytest.raises(ConfigError, match="zk_auth.credential_file: .* readable by every user"):
        load_config(write(tmp_path, zk_auth=auth))


@pytest.mark.parametrize(
    "auth, problem",
    [
        ({"scheme": "digest"}, "exactly one of"),
        ({"scheme": "digest", "credential": "x:y", "credential_file": "f"}, "exactly one of"),
        ({"scheme": "digest", "credential": f"no-colon-{SECRET}"}, "user:password"),
        ({"scheme": "digest", "credential": f"web: {SECRET}"}, "user:password"),
        ({"scheme": "sasl", "credential": f"web:{SECRET}"}, "invalid value"),
        ({"scheme": "digest", "credential": 12345}, "not shown"),
    ],
)
def test_bad_zk_auth_is_refused_without_showing_the_secret(tmp_path, auth, problem):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, zk_auth=auth))
    assert problem in str(e.value) and "zk_auth" in str(e.value)
    assert SECRET not in str(e.value) and "12345" not in str(e.value)


def test_tls_options_and_checks(tmp_path):
    for name in ("ca.pem", "c.pem", "k.pem"):
        (tmp_path / name).write_text("x")
    (tmp_path / "k.pem").chmod(0o600)
    tls = {"ca": "ca.pem", "cert": "c.pem", "key": "k.pem"}
    options = load_config(write(tmp_path, zk_tls=tls)).zk_security.client_options()
    assert options == {
        "use_ssl": True,
        "ca": str(tmp_path / "ca.pem"),
        "certfile": str(tmp_path / "c.pem"),
        "keyfile": str(tmp_path / "k.pem"),
        "verify_certs": True,
        "check_hostname": True,
    }
    with pytest.raises(ConfigError, match="cert and key go together"):
        load_config(write(tmp_path, zk_tls={"cert": "c.pem"}))
    with pytest.raises(ConfigError, match="zk_tls.ca: cannot read"):
        load_config(write(tmp_path, zk_tls={"ca": "missing.pem"}))
    (tmp_path / "k.pem").chmod(0o644)
    assert any("zk_tls.key" in w for w in load_config(write(tmp_path, zk_tls=tls)).warnings)


def test_validate_warns_when_the_file_with_a_credential_is_world_readable(tmp_path):
    auth = {"scheme": "digest", "credential": f"web:{SECRET}"}
    path = write(tmp_path, mode=0o644, zk_auth=auth)
    result = CliRunner().invoke(main, ["validate", "-c", str(path)])
    assert result.exit_code == 0
    assert "holds a credential and is readable by every user" in result.output
    assert SECRET not in result.output
    path.chmod(0o600)
    assert "readable" not in CliRunner().invoke(main, ["validate", "-c", str(path)]).output


def test_top_level_zk_auth_is_not_called_not_implemented(tmp_path):
    # issue 11 case 12b: the top-level zk_auth is ours and used; only Ruby's per-service one is not
    path = write(tmp_path, zk_auth={"scheme": "digest", "credential": f"web:{SECRET}"})
    assert load_config(path).warnings == ()
    result = CliRunner().invoke(main, ["validate", "-c", str(path)])
    assert result.exit_code == 0 and "not implemented" not in result.output


def test_a_per_service_zk_auth_is_still_warned_about(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path)
    config = json.loads(path.read_text())
    service = {**config["services"]["web"], "zk_auth": {}}
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "api.json").write_text(json.dumps(service))
    config.update(services={"web": service}, service_conf_dir="conf.d")
    path.write_text(json.dumps(config))
    warnings = load_config(path).warnings
    assert [w.split(": ")[:2] for w in warnings] == [
        [str(path), "services.web.zk_auth"],
        [str(tmp_path / "conf.d" / "api.json"), "zk_auth"],
    ]
    assert all("not implemented" in w for w in warnings)
