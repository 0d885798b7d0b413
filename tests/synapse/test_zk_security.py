"""zk_auth and zk_tls in the synapse config; the validator warns about readable secrets."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from synapse_py.cli import main
from synapse_py.config import ConfigError, load_config

SECRET = "hunter2-xyz"


def write(folder, mode=0o600, **top):
    path = folder / "synapse.json"
    path.write_text(json.dumps({"services": {}, **top}))
    path.chmod(mode)
    return path


def test_zk_auth_and_tls_become_kazoo_options(tmp_path):
    (tmp_path / "ca.pem").write_text("x")
    config = load_config(
        write(
            tmp_path,
            zk_auth={"scheme": "digest", "credential": f"reader:{SECRET}"},
            zk_tls={"ca": "ca.pem", "verify_hostname": False},
        )
    )
    options = config.zk_security.client_options()
    assert options["auth_data"] == [("digest", f"reader:{SECRET}")]
    assert options["use_ssl"] and options["ca"] == str(tmp_path / "ca.pem")
    assert options["verify_certs"] and not options["check_hostname"]
    assert SECRET not in repr(config)


def test_world_readable_credential_file_is_refused(tmp_path):
    (tmp_path / "cred").write_text(f"reader:{SECRET}")
    (tmp_path / "cred").chmod(0o604)
    with pytest.raises(ConfigError, match="credential_file: .* readable by every user"):
        load_config(write(tmp_path, zk_auth={"scheme": "digest", "credential_file": "cred"}))


def test_schema_errors_under_secrets_do_not_quote_them(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(
            write(
                tmp_path,
                haproxy={
                    "do_writes": False,
                    "do_reloads": False,
                    "do_socket": False,
                    "stats": {"auth": SECRET},
                },
            )
        )
    assert "haproxy.stats.auth" in str(e.value) and SECRET not in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, zk_auth={"scheme": "digest", "credential": SECRET}))
    assert "zk_auth.credential" in str(e.value) and SECRET not in str(e.value)


def test_validate_warns_when_the_file_with_a_credential_is_world_readable(tmp_path):
    path = write(tmp_path, 0o644, zk_auth={"scheme": "digest", "credential": f"r:{SECRET}"})
    result = CliRunner().invoke(main, ["validate", "-c", str(path)])
    assert result.exit_code == 0 and "readable by every user" in result.output
    assert SECRET not in result.output
