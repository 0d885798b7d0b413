"""nerve config: Ruby nerve files load unchanged; bad ones are rejected naming file and key."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from nerve_py.cli import main
from nerve_py.config import RateLimit, load_config
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


def test_service_conf_dir(tmp_path, monkeypatch):
    (tmp_path / "services").mkdir()
    write(tmp_path / "services", RUBY_SERVICE, "api.json")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(write(tmp_path, {"instance_id": "i-1", "service_conf_dir": "services"}))
    assert [s.name for s in cfg.services] == ["api"]


def test_yaml_service_files_register(tmp_path, monkeypatch):
    """Ruby reads `*.yaml` (and `*.json`) service files; fc1ff2a skipped the YAML ones."""
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "api.yaml").write_text(yaml.safe_dump(dict(RUBY_SERVICE, port=9090)))
    (conf_d / "web.json").write_text(json.dumps(RUBY_SERVICE))
    monkeypatch.chdir(tmp_path)
    cfg = load_config(write(tmp_path, {"instance_id": "i-1", "service_conf_dir": "conf.d"}))
    assert [(s.name, s.port) for s in cfg.services] == [("api", 9090), ("web", 8080)]


def conf_dir_config(tmp_path):
    (tmp_path / "d").mkdir()
    return tmp_path / "d", write(
        tmp_path, {"instance_id": "i", "service_conf_dir": str(tmp_path / "d")}
    )


def test_service_files_ruby_skips_are_skipped(tmp_path):
    folder, path = conf_dir_config(tmp_path)
    write(folder, RUBY_SERVICE, "web.json")
    write(folder, yaml.safe_dump(RUBY_SERVICE), "old.yml")  # Ruby globs *.{yaml,json} only
    write(folder, "{", ".hidden.json")  # and `*` skips dot files
    write(folder, "{", "notes.txt")
    cfg = load_config(path)
    assert [s.name for s in cfg.services] == ["web"]
    assert any("old.yml: ignored" in w for w in cfg.warnings)


def test_yaml_main_file(tmp_path):
    conf = {"instance_id": "i-1", "services": {"web": RUBY_SERVICE}}
    cfg = load_config(write(tmp_path, yaml.safe_dump(conf, sort_keys=False), "nerve.yaml"))
    assert cfg.service("web").weight == 2
    # Ruby parses a .json file with its YAML parser too
    cfg = load_config(write(tmp_path, yaml.safe_dump(conf), "nerve.conf.json"))
    assert cfg.service("web").labels == (("az", "us-east-1a"),)


def test_service_conf_dir_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "etc" / "services").mkdir(parents=True)
    (tmp_path / "run" / "services").mkdir(parents=True)
    write(tmp_path / "run" / "services", RUBY_SERVICE, "from_cwd.json")
    write(tmp_path / "etc" / "services", RUBY_SERVICE, "beside_config.json")
    path = write(tmp_path / "etc", {"instance_id": "i-1", "service_conf_dir": "services"})
    monkeypatch.chdir(tmp_path / "run")
    assert [s.name for s in load_config(path).services] == ["from_cwd"]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert "service_conf_dir" in str(e.value) and "working directory" in str(e.value)
    assert str(tmp_path / "etc" / "services") in str(e.value)  # the hint names the one beside


def test_two_files_for_one_service_is_an_error(tmp_path):
    folder, path = conf_dir_config(tmp_path)
    write(folder, RUBY_SERVICE, "api.json")
    write(folder, yaml.safe_dump(RUBY_SERVICE), "api.yaml")
    with pytest.raises(ConfigError, match="api.yaml: service 'api' is also .*api.json"):
        load_config(path)


@pytest.mark.parametrize(
    "text, words",
    [
        ('{"instance_id": "<%= @id %>"}', "line 1: ERB templates"),
        ("instance_id: [unclosed", "not valid YAML"),
        ("instance_id: 2024-01-01\n", "instance_id: a YAML date is not supported"),
        ("- a list", "the top level must be a mapping"),
        ("instance_id: i\n1: x\n", "1: a key must be a string"),
        ('{"instance_id": "i", "services": {"w": {"weight": NaN}}}', "not a finite number"),
    ],
)
def test_unreadable_yaml_and_erb(tmp_path, text, words):
    path = write(tmp_path, text.replace("\\n", "\n"), "nerve.json" if "NaN" in text else "n.yaml")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(path) in str(e.value) and words in str(e.value)


def test_ruby_service_semantics(tmp_path):
    """checks optional (always up, as Ruby); weight digit string; port string; path encoding."""
    svc = {k: v for k, v in RUBY_SERVICE.items() if k != "checks"}
    svc.update(weight="10", port="8080", use_path_encoding="true", labels={"b": 1, "a": None})
    cfg = load_config(write(tmp_path, {"instance_id": "i", "services": {"w": svc}}))
    w = cfg.service("w")
    assert (w.checks, w.weight, w.port, w.wire_port) == ((), 10, 8080, "8080")
    assert w.use_path_encoding is False
    assert w.labels == (("b", 1), ("a", None))  # config order, JSON scalars kept
    assert any("use_path_encoding: 'true' is not the boolean true" in x for x in cfg.warnings)


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("weight", -1, "non-negative integer or a digit string"),
        ("weight", "1.5", "digit string"),
        ("weight", 2.0, "must be an integer or a digit string"),
        ("port", "0", "must be 1..65535"),
        ("port", "80a", "digit string"),
        ("port", 8080.0, "must be an integer or a digit string"),
        ("labels", {"a": [1]}, "labels.a"),
        ("reporter_type", "etcd", "the etcd reporter is not supported"),
    ],
)
def test_ruby_values_we_refuse(tmp_path, key, value, words):
    conf = {"instance_id": "i", "services": {"w": dict(RUBY_SERVICE, **{key: value})}}
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, conf))
    assert f"services.w.{key}" in str(e.value) and words in str(e.value)


def test_weight_above_haproxy_maximum_is_published_with_a_warning(tmp_path):
    conf = {"instance_id": "i", "services": {"w": dict(RUBY_SERVICE, weight=300)}}
    cfg = load_config(write(tmp_path, conf))
    assert cfg.service("w").weight == 300 and any("above HAProxy" in w for w in cfg.warnings)


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("host", "web host", "'web host' is not an IP address or an RFC 1123 hostname"),
        ("host", "fe80::1%eth0", "is not an IP address or an RFC 1123 hostname"),
        ("host", "10.0.0", "is not an IP address"),
        ("haproxy_server_options", "backup disabled", "keyword 'disabled' is not allowed"),
        ("haproxy_server_options", "weight 300", "bad value for weight"),
        ("haproxy_server_options", "check # x", "holds a forbidden character"),
    ],
)
def test_values_synapse_py_skips_are_warned_about(tmp_path, key, value, words):
    # today: nerve-py registers them silently and synapse-py skips the node
    conf = {"instance_id": "i", "services": {"w": dict(RUBY_SERVICE, **{key: value})}}
    cfg = load_config(write(tmp_path, conf))
    found = [w for w in cfg.warnings if f"services.w.{key}" in w]
    assert len(found) == 1 and words in found[0] and "synapse-py skips the node" in found[0]


def test_values_synapse_py_takes_are_not_warned_about(tmp_path):
    svc = dict(RUBY_SERVICE, host="web-1.example.", haproxy_server_options="check inter 2s")
    cfg = load_config(write(tmp_path, {"instance_id": "i", "services": {"w": svc}}))
    assert cfg.warnings == ()


def test_ruby_only_key_is_a_warning(tmp_path):
    svc = dict(RUBY_SERVICE, load_test_concurrency=2, max_repeated_report_failures=3)
    cfg = load_config(write(tmp_path, {"instance_id": "i", "statsd": {}, "services": {"w": svc}}))
    assert any("statsd" in w and "not implemented" in w for w in cfg.warnings)
    assert any("services.w.load_test_concurrency" in w for w in cfg.warnings)
    # Ruby nerve overwrites the per-service value with the top-level one: a knob, not an error
    assert any("services.w.max_repeated_report_failures" in w for w in cfg.warnings)


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


def overlay_pair(tmp_path, main: dict, overlay: dict | str, name="overlay.json"):
    return write(tmp_path, main), write(tmp_path, overlay, name)


def test_overlay_holds_our_keys_so_the_main_file_stays_ruby(tmp_path):
    main = {"instance_id": "i-1", "statsd": {}, "services": {"web": RUBY_SERVICE}}
    ours = {"state_dir": str(tmp_path / "st"), "zk_session_timeout": 4, "metrics": {"port": 9}}
    path, over = overlay_pair(tmp_path, main, ours)
    cfg = load_config(path, over)
    assert (cfg.state_dir, cfg.zk_session_timeout, cfg.metrics.port) == (ours["state_dir"], 4, 9)
    assert (cfg.source, cfg.overlay) == (str(path), str(over))
    assert load_config(path).state_dir == "/var/lib/nerve-py"  # the main file alone still loads


def test_overlay_merges_objects_and_replaces_lists(tmp_path, monkeypatch):
    (tmp_path / "conf.d").mkdir()
    write(tmp_path / "conf.d", dict(RUBY_SERVICE, port=7000), "api.json")
    main = {"instance_id": "i-1", "service_conf_dir": "conf.d", "services": {"web": RUBY_SERVICE}}
    overlay = {
        "services": {
            "web": {"labels": {"tier": "1"}, "checks": [{"type": "tcp"}], "weight": 9},
            "api": {"weight": 1},  # a service_conf_dir service: merged too
            "new": dict(RUBY_SERVICE, port=7001),  # added
        }
    }
    path, over = overlay_pair(tmp_path, main, yaml.safe_dump(overlay), "overlay.yaml")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(path, over)
    web = cfg.service("web")
    assert web.labels == (("az", "us-east-1a"), ("tier", "1"))
    assert [c.type for c in web.checks] == ["tcp"] and web.weight == 9
    assert (cfg.service("api").port, cfg.service("api").weight) == (7000, 1)
    assert [s.name for s in cfg.services] == ["web", "api", "new"]


@pytest.mark.parametrize(
    "main_patch, overlay, guilty, key_path",
    [
        ({}, {"bogus": 1}, "overlay", "bogus"),
        ({}, {"services": {"web": {"port": "x"}}}, "overlay", "services.web.port"),
        ({"zk_session_timeout": "x"}, {}, "main", "zk_session_timeout"),
        ({}, {"services": {"new": {"port": 1}}}, "overlay", "services.new.host"),
        ({}, {"zk_tls": {"ca": "missing.pem"}}, "overlay", "zk_tls.ca"),
    ],
)
def test_overlay_errors_name_the_file(tmp_path, main_patch, overlay, guilty, key_path):
    main = {"instance_id": "i-1", "services": {"web": RUBY_SERVICE}, **main_patch}
    path, over = overlay_pair(tmp_path, main, overlay)
    with pytest.raises(ConfigError) as e:
        load_config(path, over)
    assert e.value.source == str(over if guilty == "overlay" else path)
    assert e.value.key_path == key_path


def test_an_error_from_both_files_names_both(tmp_path):
    path, over = overlay_pair(tmp_path, {"services": {"web": RUBY_SERVICE}}, {"state_dir": "/x"})
    with pytest.raises(ConfigError) as e:
        load_config(path, over)
    assert e.value.source == f"{path} (with overlay {over})" and e.value.key_path == "instance_id"


def test_instance_id_override(tmp_path):
    path = write(tmp_path, {"instance_id": "from-file", "services": {"web": RUBY_SERVICE}})
    assert load_config(path, instance_id="i-cli").service("web").instance_id == "i-cli"
    assert load_config(path, instance_id="").instance_id == "from-file"  # Ruby: empty is unset
    with pytest.raises(ConfigError, match="^-i/--instance_id .*'bad name': must be letters"):
        load_config(path, instance_id="bad name")


def test_no_services_is_a_warning_as_ruby_runs_idle(tmp_path):
    """Ruby nerve runs with no services (a SIGHUP that removes them all reaps every watcher)."""
    cfg = load_config(write(tmp_path, {"instance_id": "i", "services": {}}))
    assert cfg.services == () and any("no services defined" in w for w in cfg.warnings)


def test_rate_limiting_in_either_ruby_spelling(tmp_path):
    """Ruby nerve revisions spell it `rate_limiting: {shadow_mode, average_rate, max_burst}` or
    as flat `rate_limit_enabled` (false: log only), `rate_limit_avg`, `rate_limit_burst`."""

    def loaded(**keys):
        conf = {"instance_id": "i", "services": {"w": dict(RUBY_SERVICE, **keys)}}
        return load_config(write(tmp_path, conf)).service("w").rate_limiting

    assert loaded() == RateLimit(shadow_mode=True, average_rate=10, max_burst=100)
    nested = loaded(rate_limiting={"shadow_mode": False, "average_rate": 2})
    assert nested == RateLimit(shadow_mode=False, average_rate=2, max_burst=100)
    flat = loaded(rate_limit_enabled=True, rate_limit_avg=2, rate_limit_burst=5)
    assert flat == RateLimit(shadow_mode=False, average_rate=2, max_burst=5)
    assert loaded(rate_limit_avg=3) == RateLimit(shadow_mode=True, average_rate=3, max_burst=100)
    with pytest.raises(ConfigError, match="services.w.rate_limiting: set either"):
        loaded(rate_limiting={}, rate_limit_avg=3)
