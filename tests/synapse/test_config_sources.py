"""Where a synapse config comes from: ERB's ENV lookups, service_conf_dir, --config-overlay."""

from __future__ import annotations

import json

import pytest
import yaml

from synapse_py.config import ConfigError, load_config

from .test_config import MINIMAL, changed, load_error, write

BASE = {"discovery": {"method": "base"}}


# --- ERB: the ENV lookups Ruby renders -------------------------------------------------------


def test_env_lookups_are_rendered_as_ruby_erb_does(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNAPSE_TAG", "blue")
    monkeypatch.delenv("SYNAPSE_UNSET", raising=False)
    text = yaml.safe_dump(changed()).replace("/nerve/web", "/nerve/<%= ENV['SYNAPSE_TAG'] %>")
    text += 'file_output: {output_directory: "/tmp/<%= ENV["SYNAPSE_UNSET"] %>x"}\n'
    text += "state_file_path: <%= ENV.fetch('SYNAPSE_UNSET', '/tmp/state.json') %>\n"
    loaded = load_config(write(tmp_path, text, "synapse.yaml"))
    assert loaded.service("web").discovery.path == "/nerve/blue"
    assert loaded.file_output.output_directory == "/tmp/x"  # nil renders as ""
    assert loaded.state_file_path == "/tmp/state.json"


def test_other_erb_and_a_missing_fetch_are_errors_naming_the_line(tmp_path, monkeypatch):
    monkeypatch.delenv("SYNAPSE_UNSET", raising=False)
    text = "services: {}\nstate_file_path: <%= ENV.fetch('SYNAPSE_UNSET') %>\n"
    assert "s.yaml: line 2: SYNAPSE_UNSET is not set" in load_error(tmp_path, text, "s.yaml")
    text = "services: {}\n<% if true %>\nx: 1\n<% end %>\n"
    assert "s.yaml: line 2: ERB templates other than" in load_error(tmp_path, text, "s.yaml")


# --- service_conf_dir ------------------------------------------------------------------------


def test_a_relative_service_conf_dir_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "etc").mkdir()
    services = tmp_path / "run" / "services"
    services.mkdir(parents=True)
    write(services, {**BASE, "haproxy": {"port": 4000}}, "api.json")
    (services / "db.yaml").write_text("discovery: {method: base}\nhaproxy: {port: 4001}\n")
    (services / "old.yml").write_text("not: read")  # Ruby's glob is *.{json,yaml}
    path = write(tmp_path / "etc", changed(service_conf_dir="services"))
    monkeypatch.chdir(tmp_path / "run")
    loaded = load_config(path)
    assert [s.name for s in loaded.services] == ["api", "db", "web"]
    assert loaded.service("db").haproxy.port == 4001
    monkeypatch.chdir(tmp_path / "etc")
    assert f"{tmp_path / 'etc' / 'services'} is not a folder" in str(
        pytest.raises(ConfigError, load_config, path).value
    )


# --- --config-overlay ------------------------------------------------------------------------

OVERLAY = {
    "zk_session_timeout": 20,
    "metrics": {"port": 9300},
    "haproxy": {"global": ["daemon", "maxconn 100"], "stats": {"enabled": True}},
    "services": {
        "web": {"envoy": {"port": 7000}, "mass_expiry_grace": 5},
        "extra": {"discovery": {"method": "base"}},
    },
}
ENVOY = {"envoy": {"output_directory": "/tmp/envoy"}}


def overlaid(tmp_path, main: object, overlay: object, name: str = "overlay.yaml"):
    text = overlay if isinstance(overlay, str) else yaml.safe_dump(overlay)
    return load_config(write(tmp_path, main), write(tmp_path, text, name))


def test_an_overlay_merges_objects_and_replaces_other_values(tmp_path):
    loaded = overlaid(tmp_path, MINIMAL, {**OVERLAY, **ENVOY})
    assert loaded.zk_session_timeout == 20 and loaded.metrics.port == 9300
    assert loaded.haproxy.global_ == ("daemon", "maxconn 100")  # a list replaces the list
    assert loaded.haproxy.defaults == ("mode http",) and loaded.haproxy.stats.enabled
    web = loaded.service("web")
    assert web.envoy.port == 7000 and web.mass_expiry_grace == 5
    assert web.discovery.path == "/nerve/web" and web.haproxy.port == 3213  # kept
    assert [s.name for s in loaded.services] == ["extra", "web"]
    assert loaded.overlay.endswith("overlay.yaml")


def test_an_overlay_reaches_services_of_the_service_conf_dir(tmp_path):
    services = tmp_path / "services"
    services.mkdir()
    write(services, {**BASE, "haproxy": {"port": 4000}}, "api.json")
    main = changed(service_conf_dir=str(services))
    loaded = overlaid(tmp_path, main, {**ENVOY, "services": {"api": {"envoy": {"port": 7001}}}})
    assert loaded.service("api").envoy.port == 7001 and loaded.service("api").haproxy.port == 4000


def test_the_main_file_keeps_only_ruby_keys(tmp_path):
    """Our keys in the overlay: the main file passes Ruby synapse's top-level key check."""
    ruby_top_level = {"services", "service_conf_dir", "statsd", "haproxy", "file_output"}
    assert set(MINIMAL) <= ruby_top_level
    assert overlaid(tmp_path, MINIMAL, OVERLAY).metrics.port == 9300


@pytest.mark.parametrize(
    ("overlay", "expected"),
    [
        ({"metrics": {"port": -1}}, "overlay.yaml: metrics.port: "),
        ({"bogus": 1}, "overlay.yaml: bogus: unknown key"),
        ({"services": {"web": {"haproxy": {"prot": 1}}}}, "overlay.yaml: services.web.haproxy."),
        ({"services": {"web": {"leader_election": True}}}, "overlay.yaml: services.web.leader_"),
        ({"services": {"x": {"discovery": {"method": "dns"}}}}, "overlay.yaml: services.x.disc"),
        ("[1]", "overlay.yaml: an overlay must be an object"),
        ("a: [", "overlay.yaml: not valid YAML"),
    ],
)
def test_overlay_errors_name_the_overlay(tmp_path, overlay, expected):
    with pytest.raises(ConfigError) as e:
        overlaid(tmp_path, MINIMAL, overlay)
    assert str(e.value).startswith(str(tmp_path / expected))


def test_errors_of_the_main_file_still_name_it(tmp_path):
    main = changed(services__web__haproxy__port=0)
    with pytest.raises(ConfigError) as e:
        overlaid(tmp_path, main, {"metrics": {"port": 9300}})
    assert str(e.value).startswith(f"{tmp_path / 'synapse.json'}: services.web.haproxy.port: ")


def test_an_overlay_may_be_json(tmp_path):
    loaded = overlaid(tmp_path, MINIMAL, json.dumps({"zk_session_timeout": 3}), "o.json")
    assert loaded.zk_session_timeout == 3


# --- per-service generator sections ----------------------------------------------------------


def test_a_generator_disabled_for_a_service_leaves_the_others_alone(tmp_path):
    main = changed(
        file_output={"output_directory": str(tmp_path / "out")},
        services__web__haproxy__disabled=True,
        services__web__envoy={"disabled": True},
        **ENVOY,
    )
    main["services"]["api"] = {**BASE, "envoy": {"port": 7000}}
    loaded = load_config(write(tmp_path, main))
    web = loaded.service("web")
    assert web.haproxy.disabled and web.envoy is None
    assert loaded.service("api").envoy.port == 7000 and loaded.file_output is not None


def test_sighup_rereads_the_overlay_and_warns_only_of_what_is_new(tmp_path, caplog):
    from synapse_py.daemon import SynapseDaemon

    main = {"services": {"web": BASE}, "file_output": {"output_directory": str(tmp_path / "o")},
            "statsd": {"port": 8125}}  # fmt: skip
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("zk_session_timeout: 20\n")
    daemon = SynapseDaemon(load_config(write(tmp_path, main), overlay))
    overlay.write_text("zk_session_timeout: 20\nwait: {max: 1}\n")
    caplog.clear()
    with caplog.at_level("WARNING"):
        daemon.reload()
    assert daemon.config.wait_max == 1 and daemon.config.overlay == str(overlay)
    assert not any("statsd" in r.getMessage() for r in caplog.records)  # logged at start only
    daemon.generators.stop()


def test_a_collision_the_overlay_makes_names_the_overlay(tmp_path):
    main = changed()
    main["services"]["api"] = {**BASE, "haproxy": {"port": 3300}}
    with pytest.raises(ConfigError) as e:
        overlaid(tmp_path, main, {"services": {"api": {"haproxy": {"port": 3213}}}})
    assert f"services.api.haproxy.port (in {tmp_path / 'overlay.yaml'})" in str(e.value)
