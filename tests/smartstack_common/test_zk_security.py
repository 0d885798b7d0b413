"""zk_auth and zk_tls as both daemons read them (each daemon's config tests cover the wiring)."""

from __future__ import annotations

import pytest

from smartstack_common.zk_security import SecurityConfigError, ZkSecurity, load_security

SECRET = "hunter2-xyz"


def _config(tmp_path, mode: int = 0o600) -> str:
    path = tmp_path / "config.json"
    path.write_text("{}")
    path.chmod(mode)
    return str(path)


def test_nothing_configured_is_no_auth_and_no_tls(tmp_path):
    assert load_security({}, _config(tmp_path)) == (ZkSecurity(), [])
    assert ZkSecurity().client_options() == {}


def test_a_credential_becomes_auth_data_and_stays_out_of_repr(tmp_path):
    security, warnings = load_security(
        {"zk_auth": {"scheme": "digest", "credential": f"web:{SECRET}"}}, _config(tmp_path)
    )
    assert security.client_options() == {"auth_data": [("digest", f"web:{SECRET}")]}
    assert security.auth.user == "web" and SECRET not in repr(security) and warnings == []


def test_a_credential_in_a_world_readable_config_is_warned_about(tmp_path):
    auth = {"zk_auth": {"scheme": "digest", "credential": f"web:{SECRET}"}}
    _, warnings = load_security(auth, _config(tmp_path, 0o644))
    assert any("readable by every user" in w for w in warnings)


def test_a_credential_file_is_read_beside_the_config_and_must_not_be_world_readable(tmp_path):
    (tmp_path / "zk.secret").write_text(f"web:{SECRET}\n")
    (tmp_path / "zk.secret").chmod(0o600)
    auth = {"zk_auth": {"scheme": "digest", "credential_file": "zk.secret"}}
    security, _ = load_security(auth, _config(tmp_path))
    assert security.auth.credential == f"web:{SECRET}"
    (tmp_path / "zk.secret").chmod(0o644)
    with pytest.raises(SecurityConfigError, match="zk_auth.credential_file: .* chmod o-r"):
        load_security(auth, _config(tmp_path))


@pytest.mark.parametrize(
    "auth",
    [
        {"scheme": "digest", "credential": "no-colon"},
        {"scheme": "digest", "credential": f"web: {SECRET}"},
        {"scheme": "digest"},
        {"scheme": "digest", "credential": f"web:{SECRET}", "credential_file": "x"},
    ],
)
def test_a_bad_credential_is_refused_without_quoting_it(tmp_path, auth):
    with pytest.raises(SecurityConfigError) as e:
        load_security({"zk_auth": auth}, _config(tmp_path))
    assert SECRET not in str(e.value) and "no-colon" not in str(e.value)


def test_tls_paths_are_checked_and_become_kazoo_ssl_options(tmp_path):
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    (tmp_path / "key.pem").chmod(0o600)
    tls = {"ca": "ca.pem", "cert": "cert.pem", "key": "key.pem", "verify_hostname": False}
    security, warnings = load_security({"zk_tls": tls}, _config(tmp_path))
    options = security.client_options()
    assert options["use_ssl"] and options["verify_certs"] and not options["check_hostname"]
    assert options["certfile"] == str(tmp_path / "cert.pem") and warnings == []
    with pytest.raises(SecurityConfigError, match="cert and key go together"):
        load_security({"zk_tls": {"cert": "cert.pem"}}, _config(tmp_path))
    with pytest.raises(SecurityConfigError, match="zk_tls.ca: cannot read"):
        load_security({"zk_tls": {"ca": "missing.pem"}}, _config(tmp_path))
