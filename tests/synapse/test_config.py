"""Config loading: Ruby synapse compatibility, schema errors that name file and key path."""

from __future__ import annotations

import copy
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from synapse_py.config import ConfigError, load_config

DOCS = Path(__file__).resolve().parents[2] / "docs" / "synapse.md"

MINIMAL = {
    "services": {
        "web": {
            "discovery": {"method": "zookeeper", "hosts": ["zk1:2181"], "path": "/nerve/web"},
            "haproxy": {"port": 3213},
        }
    },
    "haproxy": {
        "config_file_path": "/etc/haproxy/haproxy.cfg",
        "reload_command": "systemctl reload haproxy",
        "socket_file_path": "/run/haproxy/admin.sock",
        "global": ["daemon"],
        "defaults": ["mode http"],
    },
}


def write(folder: Path, config: object, name: str = "synapse.json") -> str:
    path = folder / name
    path.write_text(config if isinstance(config, str) else json.dumps(config))
    return str(path)


def changed(**edits: object) -> dict:
    """MINIMAL with dotted-path edits applied (a value of ... deletes the key)."""
    config = copy.deepcopy(MINIMAL)
    for dotted, value in edits.items():
        *parents, last = dotted.split("__")
        target = config
        for key in parents:
            target = target.setdefault(key, {})
        if value is ...:
            del target[last]
        else:
            target[last] = value
    return config


def load_error(tmp_path: Path, config: object, name: str = "synapse.json") -> str:
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, config, name))
    return str(e.value)


def docs_example() -> str:
    text = DOCS.read_text()
    return re.search(r"<!-- example-config -->\s*```json\n(.*?)```", text, re.DOTALL).group(1)


def test_minimal_config_and_defaults(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    web = config.service("web")
    assert web.discovery.hosts == ("zk1:2181",) and web.discovery.path == "/nerve/web"
    assert web.haproxy.port == 3213 and web.backend_name == "web"
    assert web.use_previous_backends is True and web.keep_default_servers is False
    assert config.haproxy.global_ == ("daemon",) and config.haproxy.do_socket is True
    assert config.haproxy.restart_interval == 2.0 and config.haproxy.state_file_ttl == 86400
    assert config.haproxy.stats.bind_address == "127.0.0.1" and not config.haproxy.stats.enabled
    assert config.zk_session_timeout == 10.0 and config.file_output is None
    assert config.warnings == () and config.source.endswith("synapse.json")


def test_docs_example_loads_unchanged(tmp_path):
    path = write(tmp_path, docs_example())
    Path(path).chmod(0o600)  # it holds the stats password: readable by all would be warned about
    config = load_config(path)
    assert [s.name for s in config.services] == ["api", "db", "web"]
    assert config.warnings == ()


def test_full_config_maps_every_key(tmp_path):
    config = load_config(write(tmp_path, docs_example()))
    web, db = config.service("web"), config.service("db")
    assert web.haproxy.server_options == "check inter 2s rise 3 fall 2"
    assert web.haproxy.listen == ("mode http", "option httpchk GET /health")
    assert web.discovery.label_filters == (
        {"label": "az", "value": "us-east-1a", "condition": "equals"},
    )
    assert db.haproxy.frontend == ("mode tcp",) and db.haproxy.backend_name == "postgres"
    assert [(b.host, b.port, b.name) for b in db.default_servers] == [
        ("10.0.0.5", 5432, "db-default")
    ]
    assert db.default_servers[0].record == '{"name":"db-default","host":"10.0.0.5","port":5432}'
    assert db.keep_default_servers and not db.use_previous_backends
    assert config.haproxy.extra_sections == (("listen admin", ("bind 127.0.0.1:3210",)),)
    assert config.haproxy.stats.enabled and config.haproxy.stats.auth == "admin:secret"
    assert config.file_output.output_directory == "/var/run/synapse/services"
    assert config.zk_session_timeout == 15


def test_service_conf_dir_merges_services_named_by_file(tmp_path):
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    write(conf_d, {"discovery": {"method": "base"}, "haproxy": {"port": 4000}}, "api.json")
    write(conf_d, {"discovery": {"method": "base"}}, "web.json")  # overrides services.web
    (conf_d / "README.txt").write_text("ignored, as by the Ruby synapse")
    config = load_config(write(tmp_path, changed(service_conf_dir=str(conf_d))))
    assert config.service("api").haproxy.port == 4000
    assert config.service("web").discovery.method == "base"


def test_service_conf_dir_errors_name_the_service_file(tmp_path):
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    write(conf_d, {"discovery": {"method": "base"}, "haproxy": {"port": 0}}, "api.json")
    message = load_error(tmp_path, changed(service_conf_dir=str(conf_d)))
    assert f"{conf_d / 'api.json'}: haproxy.port:" in message


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"api.yaml": "x: 1"}, "api.yaml: 'discovery' is a required property"),
        ({"api.json": "{}", "api.yaml": "{}"}, "service 'api' is also defined by"),
        ({"bad name.json": "{}"}, "service name from the file name"),
        ({}, None),
    ],
)
def test_service_conf_dir_problems(tmp_path, files, expected):
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    for name, text in files.items():
        (conf_d / name).write_text(text)
    if expected is None:
        missing = str(tmp_path / "missing")
        assert "is not a folder" in load_error(tmp_path, changed(service_conf_dir=missing))
    else:
        assert expected in load_error(tmp_path, changed(service_conf_dir=str(conf_d)))


@pytest.mark.parametrize(
    ("edits", "path", "problem"),
    [
        ({"services__web__haproxy__port": 70000}, "services.web.haproxy.port", "maximum"),
        ({"services__web__haproxy__port": True}, "services.web.haproxy.port", "type"),
        ({"services__web__haproxy__prot": 1}, "services.web.haproxy.prot", "unknown key"),
        ({"services__web__bogus": 1}, "services.web.bogus", "unknown key"),
        ({"bogus": {}}, "bogus", "unknown key"),
        ({"haproxy__bogus": 1}, "haproxy.bogus", "unknown key"),
        ({"services__web__discovery__hosts": ...}, "services.web.discovery", "'hosts'"),
        ({"services__web__discovery__path": ...}, "services.web.discovery", "'path'"),
        ({"services__web__discovery__hosts": []}, "services.web.discovery.hosts", "non-empty"),
        ({"services__web__discovery__path": "nerve"}, "services.web.discovery.path", "absolute"),
        ({"services__web__discovery__bogus": 1}, "services.web.discovery.bogus", "unknown key"),
        ({"services__web__discovery": ...}, "services.web", "'discovery'"),
        ({"haproxy__config_file_path": ...}, "haproxy", "'config_file_path'"),
        ({"haproxy__reload_command": ...}, "haproxy", "'reload_command'"),
        ({"haproxy__socket_file_path": ...}, "haproxy", "'socket_file_path'"),
        ({"haproxy__restart_interval": -1}, "haproxy.restart_interval", "minimum"),
        ({"haproxy__restart_jitter": 2}, "haproxy.restart_jitter", "maximum"),
        ({"haproxy__state_file_ttl": 0}, "haproxy.state_file_ttl", "0"),
        ({"haproxy__global": "daemon"}, "haproxy.global", "type"),
        ({"haproxy__stats": {"auth": "nocolon"}}, "haproxy.stats.auth", "not shown"),
        # HAProxy would read `#x` as a comment: the password would silently be "pa"
        ({"haproxy__stats": {"auth": "admin:pa#x"}}, "haproxy.stats.auth", "not shown"),
        ({"haproxy__stats": {"uri": "/stats#x"}}, "haproxy.stats.uri", "no spaces, #"),
        ({"haproxy__stats": {"port": 0}}, "haproxy.stats.port", "minimum"),
        ({"zk_session_timeout": 0}, "zk_session_timeout", "minimum"),
        ({"file_output": {}}, "file_output", "'output_directory'"),
        (
            {
                "services__web__discovery__label_filters": [
                    {"label": "a", "value": "b", "condition": "equals", "x": 1}
                ]
            },
            "services.web.discovery.label_filters.0.x",
            "unknown key",
        ),
        (
            {"services__web__default_servers": [{"name": "a", "host": "h\\n x", "port": 80}]},
            "services.web.default_servers.0",
            "host",
        ),
        (
            {"services__web__default_servers": [{"name": "a", "host": "h", "port": 80.0}]},
            "services.web.default_servers.0",
            "port",
        ),
        ({"services__web__haproxy__backend_name": "a b"}, "services.web.haproxy.backend_name", ""),
        (
            {"services__web__haproxy__backend": ["x\nserver evil"]},
            "services.web.haproxy.backend.0",
            "control",
        ),
    ],
)
def test_errors_name_file_key_path_and_problem(tmp_path, edits, path, problem):
    message = load_error(tmp_path, changed(**edits))
    assert message.startswith(f"{tmp_path / 'synapse.json'}: {path}: ")
    assert problem in message


def test_zookeeper_path_trailing_slash_is_dropped(tmp_path):
    config = load_config(write(tmp_path, changed(services__web__discovery__path="/nerve/web/")))
    assert config.service("web").discovery.path == "/nerve/web"


def test_haproxy_flags_false_release_their_required_keys(tmp_path):
    haproxy = {"do_writes": False, "do_reloads": False, "do_socket": False}
    config = load_config(write(tmp_path, changed(haproxy=haproxy)))
    assert config.haproxy.config_file_path is None and not config.haproxy.do_socket


def test_bad_service_name_is_an_error(tmp_path):
    config = changed()
    config["services"]["we b"] = {"discovery": {"method": "base"}}
    assert "services: 'we b': a service name is letters, digits" in load_error(tmp_path, config)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"services": {"web": <%= @web %>}}', "line 1: ERB templates"),
        ('{\n"haproxy": {"global": ["<%= x %>"]}}', "line 2: ERB templates other than"),
        ('{"services": {', "not valid JSON"),
        ('{"services": {}, "services": {}}', "'services' appears twice"),
        ("[1, 2]", "not of type 'object'"),
    ],
)
def test_unusable_files(tmp_path, text, expected):
    assert expected in load_error(tmp_path, text)


def test_a_yaml_config_loads_as_its_json_twin(tmp_path):
    import yaml

    from_yaml = load_config(write(tmp_path, yaml.safe_dump(MINIMAL), "synapse.yaml"))
    from_json = load_config(write(tmp_path, MINIMAL))
    assert from_yaml.services == from_json.services and from_yaml.haproxy == from_json.haproxy


def test_yaml_errors_name_the_file_and_line(tmp_path):
    assert "s.yaml: not valid YAML" in load_error(tmp_path, "services: [", "s.yaml")
    twice = "services: {}\nservices: {}\n"
    assert "'services' appears twice" in load_error(tmp_path, twice, "s.yaml")


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path / "nope.json"))
    (tmp_path / "latin1.json").write_bytes(b'{"x": "\xe9"}')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(str(tmp_path / "latin1.json"))


def test_ruby_knobs_we_do_not_implement_are_accepted_with_one_warning_each(tmp_path, caplog):
    config = changed(
        statsd={"host": "localhost", "port": 8125},
        haproxy__max_server_id=100,
        haproxy__socket_file_path=["/run/a.sock", "/run/b.sock"],
        services__web__discovery__discovery_jitter=5,
        services__web__discovery__retry_policy={"max_attempts": 3},
        services__web__load_test_concurrency=2,
    )
    config["services"]["api"] = copy.deepcopy(config["services"]["web"])
    config["services"]["api"]["haproxy"]["port"] = 3214
    with caplog.at_level(logging.WARNING, logger="synapse_py.config"):
        loaded = load_config(write(tmp_path, config))
    expected = ["statsd", "haproxy.max_server_id", "haproxy.socket_file_path",
                "services.api.load_test_concurrency", "services.api.discovery.discovery_jitter",
                "services.api.discovery.retry_policy"]  # fmt: skip
    assert len(loaded.warnings) == len(expected)
    for key, warning in zip(expected, loaded.warnings, strict=True):
        assert f"synapse.json: {key}: " in warning
    assert all("(and in 1 more service(s))" in w for w in loaded.warnings[3:])
    assert [r.getMessage() for r in caplog.records] == list(loaded.warnings)
    assert loaded.haproxy.socket_file_path == "/run/a.sock"


@pytest.mark.parametrize(
    ("edits", "key", "why"),
    [
        ({"nginx": {}}, "nginx", "no nginx generator"),
        ({"services__web__nginx": {"port": 1}}, "services.web.nginx", "no nginx generator"),
        ({"services__web__leader_election": True}, "services.web.leader_election", "leader"),
        (
            {"services__web__discovery__decode": {"method": "serverset"}},
            "services.web.discovery.decode",
            "serverset",
        ),
        (
            {"services__web__discovery__generator_config_path": "/cfg/web"},
            "services.web.discovery.generator_config_path",
            "not read",
        ),
    ],
)
def test_ruby_keys_that_route_are_refused_unless_they_ask_for_the_default(
    tmp_path, edits, key, why
):
    message = load_error(tmp_path, changed(**edits))
    assert message.startswith(f"{tmp_path / 'synapse.json'}: {key}: not supported: ")
    assert why in message


def test_ruby_routing_keys_with_their_default_value_are_fine(tmp_path):
    loaded = load_config(write(tmp_path, changed(
        services__web__leader_election=False,
        services__web__discovery__decode={"method": "nerve"},
        services__web__discovery__generator_config_path="disabled",
    )))  # fmt: skip
    assert loaded.warnings == ()


@pytest.mark.parametrize("method", ["ec2tag", "docker", "marathon", "nosuch", "Zookeeper",
                                    "DNS"])  # fmt: skip
def test_every_discovery_method_we_do_not_implement_is_an_error_naming_it(tmp_path, method):
    config = changed()
    config["services"]["dns"] = {"discovery": {"method": method, "nameserver": "10.0.0.2"}}
    message = load_error(tmp_path, config)
    assert f"services.dns.discovery.method: discovery method {method!r} is not implemented" in (
        message
    )


def test_every_refusal_is_reported_at_once(tmp_path):
    config = changed(nginx={}, services__web__leader_election=True)
    config["services"]["dns"] = {"discovery": {"method": "ec2tag"}}
    assert len(load_error(tmp_path, config).splitlines()) == 3


def test_server_options_may_be_a_list_joined_with_spaces(tmp_path):
    loaded = load_config(write(tmp_path, changed(services__web__haproxy__server_options=[
        "check", "inter 2s"])))  # fmt: skip
    assert loaded.service("web").haproxy.server_options == "check inter 2s"


def test_do_checks_needs_a_check_command_and_takes_rubys_candidate_path(tmp_path):
    message = load_error(tmp_path, changed(haproxy__do_checks=True))
    assert "haproxy: 'check_command' is a required property" in message
    loaded = load_config(write(tmp_path, changed(
        haproxy__do_checks=True, haproxy__check_command="haproxy -c -f /tmp/c.cfg",
        haproxy__candidate_config_file_path="/tmp/c.cfg")))  # fmt: skip
    assert loaded.haproxy.candidate_config_file_path == "/tmp/c.cfg"


def test_null_port_binds_to_the_address_alone(tmp_path):
    unix = "unix@/run/web.sock"
    config = changed(services__web__haproxy__port=None, services__web__haproxy__bind_address=unix)
    loaded = load_config(write(tmp_path, config))
    web = loaded.service("web").haproxy
    assert (web.port, web.bind_only, web.has_frontend) == (None, True, True)
    assert not loaded.warnings
    assert not load_config(write(tmp_path, changed())).service("web").haproxy.bind_only
    (line,) = error_lines(tmp_path, changed(services__web__haproxy__port=None))
    assert line.endswith(
        "services.web.haproxy.port: null binds to 'localhost' without a port,"
        " which HAProxy refuses; use a unix@/abns@/fd@ bind_address or a port"
    )


# --- collisions across services (config_checks): refused at load, all at once ----------------


def service(port: int | None = None, **haproxy: object) -> dict:
    options = {**haproxy, **({"port": port} if port is not None else {})}
    return {"discovery": {"method": "base"}, "haproxy": options}


def with_services(**services: dict) -> dict:
    config = changed()
    config["services"].update(services)
    return config


def error_lines(tmp_path: Path, config: object) -> list[str]:
    return load_error(tmp_path, config).splitlines()


def test_two_services_on_one_address_and_port_are_refused_naming_both(tmp_path):
    config = with_services(
        api=service(3213, bind_address="127.0.0.1"),  # "localhost" (web's default) is 127.0.0.1
        db=service(3300, bind_address="0.0.0.0"),
        mq=service(3300, bind_address="10.1.2.3"),  # inside db's wildcard
    )
    file = tmp_path / "synapse.json"
    assert error_lines(tmp_path, config) == [
        f"{file}: services.web.haproxy.port: listens on localhost:3213, as does "
        "services.api.haproxy.port on 127.0.0.1:3213; both would bind (SO_REUSEPORT) and "
        "connections would be split between them",
        f"{file}: services.mq.haproxy.port: listens on 10.1.2.3:3300, as does "
        "services.db.haproxy.port on 0.0.0.0:3300; both would bind (SO_REUSEPORT) and "
        "connections would be split between them",
    ]


def test_a_service_on_the_stats_listeners_port_is_refused(tmp_path):
    config = with_services(web=service(3212, bind_address="127.0.0.1"))
    config["haproxy"]["stats"] = {"enabled": True}
    (line,) = error_lines(tmp_path, config)
    assert line.startswith(f"{tmp_path / 'synapse.json'}: services.web.haproxy.port: ")
    assert "as does haproxy.stats.port on 127.0.0.1:3212" in line


@pytest.mark.parametrize(
    "other",
    [
        service(3213, disabled=True),  # not rendered for HAProxy: binds nothing
        service(),  # no port: a backend only
        service(None, bind_address="unix@/run/x.sock"),  # no port at all
        service(3213, bind_address="127.0.0.2"),
        service(3213, bind_address="::1"),  # web binds 127.0.0.1: the other family
    ],
)
def test_services_that_do_not_bind_the_same_address_are_fine(tmp_path, other):
    config = with_services(other=other)
    config["services"]["web"]["haproxy"]["bind_address"] = "127.0.0.1"
    assert [s.name for s in load_config(write(tmp_path, config)).services] == ["other", "web"]


def test_the_stats_page_cannot_live_at_the_exporters_path(tmp_path):
    config = with_services(web=service(3213))
    config["haproxy"]["stats"] = {"enabled": True, "prometheus": True, "uri": "/metrics"}
    (line,) = error_lines(tmp_path, config)
    assert line.startswith(f"{tmp_path / 'synapse.json'}: haproxy.stats.uri: /metrics is where")
    config["haproxy"]["stats"].update(uri="/stats", show_legends=True)
    stats = load_config(write(tmp_path, config)).haproxy.stats
    assert stats.prometheus and stats.show_legends and stats.uri == "/stats"


def test_an_extra_userlist_cannot_replace_the_exporters_guard(tmp_path):
    config = with_services(web=service(3213))
    config["haproxy"]["extra_sections"] = {"userlist synapse_stats_auth": ["user a password x"]}
    config["haproxy"]["stats"] = {"enabled": True, "prometheus": True}
    assert load_config(write(tmp_path, config)).haproxy.stats.prometheus  # no auth: not rendered
    config["haproxy"]["stats"]["auth"] = "ops:pw"
    (line,) = error_lines(tmp_path, config)
    assert ": haproxy.extra_sections.userlist synapse_stats_auth: synapse-py renders" in line


def test_the_stats_port_is_free_while_stats_are_disabled(tmp_path):
    config = with_services(web=service(3212, bind_address="127.0.0.1"))
    config["haproxy"]["stats"] = {"enabled": False}
    assert load_config(write(tmp_path, config)).service("web").haproxy.port == 3212


def test_envoy_and_metrics_listeners_count_too(tmp_path):
    config = with_services(api={**service(), "envoy": {"port": 3213, "bind_address": "127.0.0.1"}})
    config["envoy"] = {"output_directory": str(tmp_path / "envoy"), "admin_port": 9100}
    config["metrics"] = {"port": 9100}
    lines = error_lines(tmp_path, config)
    assert [line.split(": ")[1] for line in lines] == ["services.api.envoy.port", "metrics.port"]
    assert "as does services.web.haproxy.port on localhost:3213" in lines[0]
    assert "as does envoy.admin_port on 127.0.0.1:9100" in lines[1]


def test_a_backend_name_used_twice_is_refused(tmp_path):
    config = with_services(
        api=service(3214, backend_name="shared"),
        db=service(3215, backend_name="shared"),
        cache=service(3216, backend_name="web"),  # web's backend is named "web"
    )
    file = tmp_path / "synapse.json"
    assert error_lines(tmp_path, config) == [
        f"{file}: services.db.haproxy.backend_name: HAProxy backend 'shared' has the same name "
        "as the backend section of services.api.haproxy.backend_name; HAProxy refuses two "
        "frontends or two backends of one name",
        f"{file}: services.web: HAProxy backend 'web' has the same name as the backend section "
        "of services.cache.haproxy.backend_name; HAProxy refuses two frontends or two backends "
        "of one name",
    ]


def test_a_frontend_and_a_backend_may_share_a_name_but_a_listen_section_may_not(tmp_path):
    # HAProxy 2.6 accepts `frontend x` + `backend x` (what every service renders, `listen`
    # lines or not, as in Ruby synapse) but refuses a `listen x` beside either
    config = with_services(api=service(3214, backend_name="web"), x=service(3215))
    config["services"].pop("web")
    assert load_config(write(tmp_path, config)).service("api").backend_name == "web"
    config["services"]["x"]["haproxy"]["listen"] = ["mode http"]
    config["services"]["x"]["haproxy"]["backend_name"] = "api"
    assert load_config(write(tmp_path, config)).service("x").backend_name == "api"
    config["haproxy"]["extra_sections"] = {"listen api": ["bind 127.0.0.1:3299"]}
    lines = error_lines(tmp_path, config)
    assert any("HAProxy frontend 'api' has the same name as the listen section" in x for x in lines)


def test_a_service_named_as_the_stats_listener_is_refused_while_stats_are_enabled(tmp_path):
    config = with_services(synapse_stats=service(3214))
    assert load_config(write(tmp_path, config)).service("synapse_stats")
    config["haproxy"]["stats"] = {"enabled": True}
    (line,) = error_lines(tmp_path, config)
    assert line.startswith(f"{tmp_path / 'synapse.json'}: services.synapse_stats: HAProxy ")
    assert "the same name as synapse-py's stats listener (haproxy.stats)" in line


def test_a_service_named_as_an_extra_section_is_refused(tmp_path):
    config = changed(haproxy__extra_sections={"listen web": ["bind 127.0.0.1:3299"]})
    (line,) = error_lines(tmp_path, config)
    assert "services.web: HAProxy frontend 'web' has the same name as the listen section" in line
    assert "of haproxy.extra_sections.listen web;" in line


def test_a_disabled_service_renders_no_section_to_collide_with(tmp_path):
    config = with_services(api=service(3214, backend_name="web", disabled=True))
    assert load_config(write(tmp_path, config)).service("api").haproxy.disabled


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("a" * 201, "is 201 bytes long, more than 200"),
        (".", "starts with '.'"),
        ("..", "starts with '.'"),
        (".web", "starts with '.'"),
    ],
)
def test_service_names_that_cannot_be_file_names_are_refused(tmp_path, name, why):
    config = with_services(**{name: service()})
    (line,) = error_lines(tmp_path, config)
    assert line.startswith(f"{tmp_path / 'synapse.json'}: services.{name}: the service name {why}")
    assert "it becomes a file name (file_output <name>.json" in line


def test_a_200_byte_service_name_is_fine(tmp_path):
    assert load_config(write(tmp_path, with_services(**{"a" * 200: service()}))).services


def test_service_conf_dir_names_are_checked_as_file_names(tmp_path):
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    write(conf_d, {"discovery": {"method": "base"}}, "..json")  # the service "."
    write(conf_d, {"discovery": {"method": "base"}, "haproxy": {"port": 3213}}, "api.json")
    lines = error_lines(tmp_path, changed(service_conf_dir=str(conf_d)))
    assert lines[0] == (
        f"{conf_d / '..json'}: (the service name, from the file name): the service name starts "
        "with '.' (it would be '.', '..' or a hidden file, which readers skip); it becomes a "
        "file name (file_output <name>.json, envoy eds/<name>.yaml)"
    )
    assert lines[1].startswith(f"{tmp_path / 'synapse.json'}: services.web.haproxy.port: ")
    assert f"as does haproxy.port (in {conf_d / 'api.json'}) on localhost:3213" in lines[1]


def test_every_collision_is_reported_in_one_error(tmp_path):
    config = with_services(
        **{".hidden": service()}, api=service(3213, backend_name="web"), db=service(3214)
    )
    config["haproxy"]["stats"] = {"enabled": True, "port": 3214}
    keys = [line.split(": ")[1] for line in error_lines(tmp_path, config)]
    assert keys == ["services..hidden", "services.web", "services.db.haproxy.port",
                    "services.web.haproxy.port"]  # fmt: skip


def test_validate_command_exits_2_and_prints_every_collision(tmp_path):
    config = with_services(api=service(3213, backend_name="web"))
    path = write(tmp_path, config)
    proc = subprocess.run(
        [sys.executable, "-m", "synapse_py.cli", "validate", "-c", path],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    first, second = proc.stderr.splitlines()
    assert first.startswith(f"synapse-py: config error: {path}: services.web: HAProxy backend ")
    assert "the backend section of services.api.haproxy.backend_name" in first
    # every problem is a line of its own, each with the prefix
    assert second.startswith(
        f"synapse-py: config error: {path}: services.web.haproxy.port: listens on localhost:3213, "
    )
    assert "as does services.api.haproxy.port on localhost:3213" in second


def test_default_servers_keep_their_other_keys_for_file_output(tmp_path):
    # Ruby writes a default server to file_output exactly as configured, other keys included
    server = {"name": "a", "host": "10.0.0.9", "port": 80, "id": 7, "zone": "z1"}
    loaded = load_config(write(tmp_path, changed(services__web__default_servers=[server])))
    (default,) = loaded.service("web").default_servers
    assert default.to_json() == server and default.id == 7


def test_wait_startup_bounds_the_first_apply_and_zero_turns_the_hold_off(tmp_path):
    assert load_config(write(tmp_path, MINIMAL)).wait_startup == 10.0
    assert load_config(write(tmp_path, changed(wait={"startup": 0}))).wait_startup == 0.0
    assert "startup" in load_error(tmp_path, changed(wait={"startup": -1}))
