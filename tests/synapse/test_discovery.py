"""Discovery methods: the registry, each method's own keys, and third-party methods loaded through
the `synapse_py.discovery` entry point group (a toy plug-in in a distribution made by the test)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.plugin_dist import distribution, env_with

from synapse_py import discovery, schema
from synapse_py.config import ConfigError, load_config
from synapse_py.discovery.zookeeper_poll import PollSettings

TOY = '''
    """A toy discovery plug-in: the backends are listed in the config."""

    from synapse_py.backend import Backend
    from synapse_py.discovery.protocol import Published


    class StaticList(Published):
        keys = {"servers": {"type": "array", "items": {"type": "string"}, "minItems": 1}}
        required = ("servers",)

        @classmethod
        def settings(cls, raw):
            return tuple(raw["servers"])

        def start(self):
            pairs = (s.rsplit(":", 1) for s in self.service.discovery.settings)
            self.publish(tuple(Backend(h, int(p), f"toy-{p}") for h, p in pairs))
'''


def toy_distribution(folder: Path) -> Path:
    """A distribution `toy-discovery` on `folder`, publishing method `toy` as an entry point."""
    return distribution(folder, "toy-discovery", {"toy_discovery": TOY},
                        {"synapse_py.discovery": {"toy": "toy_discovery:StaticList"}})  # fmt: skip


def service(discovery_section: dict) -> dict:
    return {"services": {"web": {"discovery": discovery_section}}}


def write(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "synapse.json"
    path.write_text(json.dumps(config))
    return path


def test_the_schema_lists_exactly_the_registered_methods():
    assert set(schema.DISCOVERY) == set(discovery.methods()) >= {"base", "zookeeper",
                                                                 "zookeeper_poll"}  # fmt: skip


def test_docs_describe_every_built_in_method_and_its_keys():
    text = (Path(__file__).resolve().parents[2] / "docs" / "synapse.md").read_text()
    section = text[text.index("#### discovery") : text.index("#### per-service haproxy")]
    for name, cls in discovery.methods().items():
        assert f"- `{name}`:" in section, name
        for key in cls.keys:
            assert f"| `{key}` |" in section, (name, key)


def test_zookeeper_poll_takes_ruby_keys(tmp_path):
    section = {"method": "zookeeper_poll", "hosts": ["z:2181"], "path": "/web/",
               "polling_interval_sec": 30}  # fmt: skip
    svc = load_config(write(tmp_path, service(section))).service("web")
    assert svc.discovery.settings == PollSettings(30.0)
    assert (svc.discovery.hosts, svc.discovery.path) == (("z:2181",), "/web")


@pytest.mark.parametrize(
    ("interval", "problem"),
    [(..., "'polling_interval_sec' is a required property"), (-1, "polling_interval_sec"),
     ("10", "polling_interval_sec")],
)  # fmt: skip
def test_zookeeper_poll_needs_a_number_of_seconds_as_ruby(tmp_path, interval, problem):
    section = {"method": "zookeeper_poll", "hosts": ["z:2181"], "path": "/web"}
    if interval is not ...:
        section["polling_interval_sec"] = interval
    with pytest.raises(ConfigError, match=problem):
        load_config(write(tmp_path, service(section)))


def test_a_method_refuses_another_methods_keys(tmp_path):
    section = {"method": "zookeeper", "hosts": ["z:2181"], "path": "/w", "polling_interval_sec": 1}
    with pytest.raises(ConfigError, match="polling_interval_sec"):
        load_config(write(tmp_path, service(section)))


def test_an_entry_point_plug_in_is_registered(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(toy_distribution(tmp_path)))
    monkeypatch.setattr(discovery.protocol, "DISCOVERY", dict(discovery.DISCOVERY))
    monkeypatch.setattr(discovery, "DISCOVERY", discovery.protocol.DISCOVERY)
    assert discovery.load_entry_points() == ["toy"]
    assert discovery.DISCOVERY["toy"].__name__ == "StaticList"


def test_an_entry_point_may_not_replace_a_built_in_method(tmp_path, monkeypatch, caplog):
    folder = toy_distribution(tmp_path)
    points = folder / "toy_discovery-0.1.dist-info" / "entry_points.txt"
    points.write_text("[synapse_py.discovery]\nzookeeper = toy_discovery:StaticList\n")
    monkeypatch.syspath_prepend(str(folder))
    assert discovery.load_entry_points() == []
    assert discovery.DISCOVERY["zookeeper"].__name__ == "ZookeeperDiscovery"
    assert "built-in method" in caplog.text


def test_the_daemon_serves_what_a_plug_in_discovers(tmp_path):
    """End to end in a real synapse-py process: `validate` knows the plug-in's keys, `run`
    writes the plug-in's backends through file_output."""
    (tmp_path / "plugins").mkdir()
    plugins = toy_distribution(tmp_path / "plugins")
    out = tmp_path / "out"
    config = service({"method": "toy", "servers": ["127.0.0.1:8081", "127.0.0.1:8082"]})
    config["file_output"] = {"output_directory": str(out)}
    path = write(tmp_path, config)
    cli = [sys.executable, "-m", "synapse_py.cli"]
    checked = subprocess.run([*cli, "validate", "-c", str(path)], env=env_with(plugins),
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen([*cli, "run", "-c", str(path)], env=env_with(plugins),
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not (out / "web.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        found = json.loads((out / "web.json").read_text())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert sorted((b["host"], b["port"], b["name"]) for b in found) == [
        ("127.0.0.1", 8081, "toy-8081"), ("127.0.0.1", 8082, "toy-8082")]  # fmt: skip


def test_without_the_plug_in_its_method_is_refused_by_name(tmp_path):
    path = write(tmp_path, service({"method": "toy", "servers": ["127.0.0.1:8081"]}))
    with pytest.raises(ConfigError, match="discovery method 'toy' is not implemented"):
        load_config(path)
