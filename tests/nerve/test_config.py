"""nerve config: Ruby nerve files load unchanged; bad ones are rejected naming file and key."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nerve_py.cli import main
from nerve_py.config import load_config
from nerve_py.errors import ConfigError

RUBY_SERVICE = {
    "host": "10.0.0.5",
    "port": 8080,
    "reporter_type": "zookeeper",
    "zk_hosts": ["zk1:2181", "zk2:2181"],
    "zk_path": "/nerve/services/web/services",
    "check_interval": 2,
    "checks": [
        {"type": "http", "uri": "/health", "timeout": 0.2, "rise": 3, "fall": 2},
        {"type": "tcp", "name": "port", "timeout": 0.5},
    ],
    "weight": 2,
    "haproxy_server_options": "backup",
    "labels": {"az": "us-east-1a"},
}


def write(tmp_path, conf, name="nerve.json"):
    p = tmp_path / name
    p.write_text(json.dumps(conf) if not isinstance(conf, str) else conf)
    return p


def test_ruby_config_loads_unchanged(tmp_path):
    conf = {
        "instance_id": "i-1",
        "heartbeat_path": str(tmp_path / "hb"),
        "max_repeated_report_failures": 10,
        "services": {"web": RUBY_SERVICE},
    }
    cfg = load_config(write(tmp_path, conf))
    web = cfg.service("web")
    assert (web.host, web.port, web.weight, web.check_interval) == ("10.0.0.5", 8080, 2, 2.0)
    assert web.node_type == "ephemeral_sequential" and not web.use_path_encoding
    assert web.labels == (("az", "us-east-1a"),)
    assert web.ensemble == "zk1:2181,zk2:2181"
    assert cfg.max_repeated_report_failures == 10
    assert cfg.zk_session_timeout == 10.0


def test_service_conf_dir(tmp_path):
    (tmp_path / "services").mkdir()
    write(tmp_path / "services", RUBY_SERVICE, "api.json")
    cfg = load_config(write(tmp_path, {"instance_id": "i-1", "service_conf_dir": "services"}))
    assert [s.name for s in cfg.services] == ["api"]


def test_ruby_only_key_is_a_warning(tmp_path):
    svc = dict(RUBY_SERVICE, load_test_concurrency=2)
    cfg = load_config(write(tmp_path, {"instance_id": "i", "statsd": {}, "services": {"w": svc}}))
    assert any("statsd" in w and "not implemented" in w for w in cfg.warnings)
    assert any("services.w.load_test_concurrency" in w for w in cfg.warnings)


@pytest.mark.parametrize(
    "mutate, key_path, words",
    [
        (lambda c: c.update(bogus=1), "bogus", "unknown key"),
        (lambda c: c["services"]["web"].update(prot=1), "services.web.prot", "unknown key"),
        (lambda c: c["services"]["web"].update(port=70000), "services.web.port", "70000"),
        (lambda c: c["services"]["web"].pop("zk_hosts"), "services.web.zk_hosts", "required"),
        (
            lambda c: c["services"]["web"].update(node_type="weird"),
            "services.web.node_type",
            "weird",
        ),
        (
            lambda c: c["services"]["web"].update(reporter_type="etcd"),
            "services.web.reporter_type",
            "etcd",
        ),
        (
            lambda c: c["services"]["web"]["checks"][0].update(type="nope"),
            "services.web.checks[0]",
            "nope",
        ),
        (
            lambda c: c["services"]["web"]["checks"][1].update(urx=1),
            "services.web.checks[1]",
            "urx",
        ),
        (
            lambda c: c["services"]["web"]["checks"][0].update(rise=0),
            "services.web.checks[0].rise",
            "0",
        ),
        (lambda c: c.pop("instance_id"), "instance_id", "required"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path, mutate, key_path, words):
    conf = {"instance_id": "i-1", "services": {"web": json.loads(json.dumps(RUBY_SERVICE))}}
    mutate(conf)
    path = write(tmp_path, conf)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(path) in str(e.value)
    assert key_path in str(e.value)
    assert words in str(e.value)


def test_not_json_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(write(tmp_path, "{oops"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.json")


def test_cli_validate_exit_codes(tmp_path):
    good = write(tmp_path, {"instance_id": "i", "services": {"web": RUBY_SERVICE}})
    r = CliRunner().invoke(main, ["validate", "-c", str(good)])
    assert r.exit_code == 0 and "OK" in r.output
    bad = write(
        tmp_path, {"instance_id": "i", "services": {"web": dict(RUBY_SERVICE, port="x")}}, "b.json"
    )
    r = CliRunner().invoke(main, ["validate", "-c", str(bad)])
    assert r.exit_code == 2
    assert "services.web.port" in r.output and str(bad) in r.output


def test_cli_check_table(tmp_path, http_backend):
    web = http_backend()
    svc = dict(
        RUBY_SERVICE,
        host="127.0.0.1",
        port=web.port,
        checks=[{"type": "http", "uri": "/health", "timeout": 1}],
    )
    cfg = write(tmp_path, {"instance_id": "i", "services": {"web": svc}})
    r = CliRunner().invoke(main, ["check", "-c", str(cfg)])
    assert r.exit_code == 0 and "PASS" in r.output
    web.healthy = False
    r = CliRunner().invoke(main, ["check", "-c", str(cfg), "web"])
    assert r.exit_code == 1 and "FAIL" in r.output and "503" in r.output


def test_help_explains():
    r = CliRunner().invoke(main, ["--help"])
    assert r.exit_code == 0
    for cmd in ("run", "validate", "check", "status", "maint"):
        assert cmd in r.output
