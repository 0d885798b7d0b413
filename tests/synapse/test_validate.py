"""`synapse-py validate`: every problem at once, in words, then HAProxy's and Envoy's own checks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.envoy import envoy_binary
from support.validate import errors
from support.validate import validate as run_validate

from smartstack_common.schema_errors import patterns
from synapse_py import proxy_checks, schema
from synapse_py.cli import main

ZK = {"method": "zookeeper", "hosts": ["127.0.0.1:2181"], "path": "/n/web"}
OFFLINE = {"do_writes": False, "do_reloads": False, "do_socket": False}


def write(folder: Path, config: dict) -> str:
    path = folder / "synapse.json"
    path.write_text(json.dumps(config))
    return str(path)


def valid(**extra) -> dict:
    return {"services": {"web": {"discovery": ZK, "haproxy": {"port": 3213}}},
            "haproxy": dict(OFFLINE), **extra}  # fmt: skip


def validate(path: str) -> subprocess.CompletedProcess:
    return run_validate("synapse_py.cli", path)


def test_every_schema_problem_is_reported_at_once(tmp_path):
    # today: only the most relevant one (best_match), so each run shows one more
    config = valid()
    config["services"]["web"]["haproxy"] = {"port": 70000, "backend_name": "a b"}
    config["services"]["api"] = {"discovery": {**ZK, "path": "nope"}, "haproxy": {"prot": 3}}
    config["haproxy"]["restart_jitter"] = 2
    path = write(tmp_path, config)
    found = errors(validate(path))
    prefix = f"synapse-py: config error: {path}: "
    keys = sorted(line.removeprefix(prefix).split(": ")[0] for line in found)
    assert keys == [
        "haproxy.restart_jitter", "services.api.discovery.path", "services.api.haproxy.prot",
        "services.web.haproxy.backend_name", "services.web.haproxy.port",
    ]  # fmt: skip
    assert all(line.startswith(prefix) for line in found)


def test_problems_past_the_schema_are_reported_together(tmp_path):
    # today: the first service's conversion error stops before the others and the collisions
    config = valid()
    config["services"]["web"]["backend_port_override"] = "70000"
    config["services"]["api"] = {"discovery": ZK, "haproxy": {"port": 3214}}
    config["services"]["db"] = {"discovery": ZK, "haproxy": {"port": 3214}}
    config["services"]["old"] = {"discovery": {"method": "ec2tag"}}
    found = "\n".join(errors(validate(write(tmp_path, config))))
    assert "services.web.backend_port_override: not a port in 1..65535" in found
    assert "services.db.haproxy.port: listens on localhost:3214" in found
    assert "services.old.discovery.method: discovery method 'ec2tag' is not implemented" in found


def test_a_misspelt_required_key_is_named_with_a_suggestion(tmp_path):
    # today: "services.web: 'discovery' is a required property"
    config = valid()
    config["services"]["web"]["dicsovery"] = config["services"]["web"].pop("discovery")
    (line,) = errors(validate(write(tmp_path, config)))
    assert line.endswith("services.web.dicsovery: unknown key dicsovery; did you mean discovery?")
    assert "required property" not in line


def test_an_unknown_key_far_from_any_is_named_without_a_guess(tmp_path):
    (line,) = errors(validate(write(tmp_path, valid(zzzz=1))))
    assert line.endswith(": zzzz: unknown key zzzz")


@pytest.mark.parametrize(
    ("where", "value", "words"),
    [
        (("services", "web", "haproxy", "backend_name"), "a b", "letters, digits, _ . : and -"),
        (("services", "web", "discovery", "path"), "web", "must be absolute"),
        (("haproxy", "stats", "uri"), "/a b", "no spaces, #, quotes or backslashes"),
    ],
)
def test_no_regular_expression_in_messages(tmp_path, where, value, words):
    # today: "'a b' does not match '^[A-Za-z0-9_.:-]+$'"
    config = valid()
    config["services"]["web"]["discovery"] = dict(ZK)
    node = config
    for key in where[:-1]:
        node = node.setdefault(key, {})
    node[where[-1]] = value
    (line,) = errors(validate(write(tmp_path, config)))
    assert words in line and "does not match" not in line
    assert not any(c in line.split(": ", 3)[-1] for c in "^$[]"), line


def test_every_pattern_in_the_schema_says_in_words_what_it_allows():
    schemas = (schema.CONFIG, schema.CHILD_DISCOVERY_SCHEMA)
    missing = [where for s in schemas for where, sub in patterns(s) if "description" not in sub]
    assert missing == []


def test_each_warning_is_printed_once(tmp_path):
    config = valid(statsd={})
    config["services"]["web"]["haproxy"]["listen"] = ["bogus_kw 1"]
    out = validate(write(tmp_path, config))
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 2 and len(set(lines)) == 2
    assert all(line.startswith("warning: ") for line in lines)


def test_haproxy_refusing_the_rendered_file_is_an_error(tmp_path):
    # today: validate says OK, and the daemon's first install is refused
    path = write(tmp_path, valid(haproxy={**OFFLINE, "global": ["nosuchkeyword 1"]}))
    (line,) = errors(validate(path))
    assert line.startswith(f"synapse-py: config error: {path}: haproxy: haproxy -c refused")
    assert "unknown keyword 'nosuchkeyword' in 'global' section" in line


def test_a_valid_config_says_which_proxy_checks_ran(tmp_path):
    out = validate(write(tmp_path, valid()))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1].startswith("haproxy -c: OK (")


def test_without_a_haproxy_binary_the_check_is_said_to_be_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(proxy_checks, "HAPROXY_BINARIES", ("no-such-haproxy-binary",))
    r = CliRunner().invoke(main, ["validate", "-c", write(tmp_path, valid())])
    assert r.exit_code == 0, r.output
    assert "haproxy -c: skipped: no haproxy binary" in r.output


def _with_envoy(tmp_path: Path, binary: str) -> dict:
    config = valid(envoy={"output_directory": str(tmp_path / "envoy"), "binary_path": binary})
    config["services"]["web"]["envoy"] = {"port": 3215}
    return config


def test_envoy_validates_the_generated_listeners_and_clusters(tmp_path):
    binary = envoy_binary()
    if binary is None:
        pytest.fail("the Envoy binary is not installed; run `make envoy-venv`", pytrace=False)
    out = validate(write(tmp_path, _with_envoy(tmp_path, str(binary))))
    assert out.returncode == 0, out.stderr
    assert f"envoy --mode validate: OK ({binary}" in out.stdout


def test_a_missing_envoy_binary_is_said(tmp_path):
    out = validate(write(tmp_path, _with_envoy(tmp_path, str(tmp_path / "nosuch-envoy"))))
    assert out.returncode == 0, out.stderr
    assert "envoy --mode validate: skipped: envoy.binary_path" in out.stdout


def test_a_missing_folder_run_needs_is_a_warning(tmp_path):
    # today: validate says nothing, and `run` exits 2 on it
    hap = {**OFFLINE, "do_writes": True, "config_file_path": str(tmp_path / "no" / "h.cfg")}
    out = validate(write(tmp_path, valid(haproxy=hap)))
    assert out.returncode == 0, out.stderr
    assert "on this host `run` would stop: " in out.stderr
    assert f"haproxy.config_file_path: folder {tmp_path / 'no'} does not exist" in out.stderr


def test_every_broken_service_conf_dir_file_is_reported(tmp_path):
    # today: the first file that does not parse stops the reading of the others
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "a.json").write_text("{not json")
    (conf_d / "b.yaml").write_text("x: [1")
    (conf_d / "c d.json").write_text("{}")
    found = "\n".join(errors(validate(write(tmp_path, valid(service_conf_dir=str(conf_d))))))
    assert f"{conf_d / 'a.json'}: not valid JSON" in found
    assert f"{conf_d / 'b.yaml'}: not valid YAML" in found
    assert f"{conf_d / 'c d.json'}: the service name from the file name" in found


def test_no_regular_expression_in_the_other_name_messages(tmp_path):
    # today: "the service name from the file name must match [A-Za-z0-9_.:-]+"
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "c d.json").write_text("{}")
    config = valid(service_conf_dir=str(conf_d))
    config["services"]["web"]["default_servers"] = [{"name": "a b", "host": "10.0.0.1", "port": 1}]
    (line,) = errors(validate(write(tmp_path, config)))
    assert line.endswith("must be letters, digits, _ . : and - only") and "[" not in line
    del config["service_conf_dir"]
    (line,) = errors(validate(write(tmp_path, config)))
    assert line.endswith("default_servers.0.name: 'a b': must be letters, digits, _ . : and - only")
