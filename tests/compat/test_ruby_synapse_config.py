"""The Ruby synapse's own example configs and command line, as Ruby runs them.

Each example is validated with `synapse-py validate` from a copy of ruby-reference's
examples/synapse folder, with that folder as the working directory (Ruby resolves
`service_conf_dir` against it). The `dns` examples list bare names as `servers`, which Ruby
resolves nothing for: they validate, with a warning per entry. The multi example names a resolver
(`fallback`) that neither Ruby nor synapse-py has, and fails naming it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import ruby_reference
from support.procs import wait_for

from synapse_py.config import load_config

EXAMPLES = ruby_reference.ROOT / "examples"
SYNAPSE = EXAMPLES / "synapse"


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    folder = tmp_path / "synapse"
    shutil.copytree(SYNAPSE, folder)
    return folder


def synapse_py(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "synapse_py.cli", *args]
    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=60
    )


# The Ruby examples' haproxy lines are examples: a certificate at /path/to/cert, the 1.x
# `listen` syntax (`bind` in the listen header), made-up option names. Our schema and key policy
# accept every example as it is (the warnings below, no other problem); `haproxy -c` then
# refuses each rendered file, as HAProxy 2.6 would.
@pytest.mark.parametrize(
    ("config", "warned"),
    [
        ("config/synapse.conf.json", ["statsd"]),
        # Ruby's keyword lists drop its made-up `some_haproxy_listen_option` too
        ("spec/support/minimum.conf.yaml", ["services.test.haproxy"]),
        ("config/hostheader_test.json",
         [f"services.service1.discovery.servers.{i}" for i in (0, 1)]),
        ("config/svcdir_test.json", ["discovery.servers.0", "discovery.servers.1"] * 2),
    ],
)  # fmt: skip
def test_ruby_examples_validate_as_they_are(examples, config, warned):
    out = synapse_py(examples, "validate", "-c", config, env={"SYNAPSE_CONFIG_VALUE": "v"})
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning: ")]
    assert [w.split(": ")[2] for w in warnings] == warned
    errors = [line for line in out.stderr.splitlines() if not line.startswith("warning: ")]
    assert out.returncode == 2 and errors, out.stderr
    assert all(f"{config}: haproxy: haproxy -c refused the rendered file: " in e for e in errors)
    # the config alone (schema, key policy, each service) is valid
    alone = synapse_py(
        examples, "validate", "--no-proxy-check", "-c", config, env={"SYNAPSE_CONFIG_VALUE": "v"}
    )
    assert alone.returncode == 0 and "OK (" in alone.stdout, alone.stderr


@pytest.mark.parametrize(
    ("config", "errors"),
    [
        (
            "config/discovery-multi.conf.json",
            # Ruby fails on it too: it has no resolver `fallback`
            ["config/discovery-multi.conf.json: services.service1.discovery_multi.resolver."
             "method: resolver 'fallback' does not exist"],
        ),
    ],
)  # fmt: skip
def test_ruby_examples_with_an_unimplemented_discovery_fail_naming_it(examples, config, errors):
    out = synapse_py(examples, "validate", "-c", config)
    assert out.returncode == 2, out.stdout
    for error in errors:
        assert error in out.stderr.replace(str(examples) + "/", "")


def test_the_yaml_example_renders_its_env_lookup_as_ruby_does(examples, monkeypatch):
    monkeypatch.chdir(examples)
    monkeypatch.setenv("SYNAPSE_CONFIG_VALUE", "config value")
    test = load_config("spec/support/minimum.conf.yaml").service("test")
    assert test.discovery.label_filters[0]["value"] == "config value"
    assert test.haproxy.server_options == "some_haproxy_server_option"
    assert test.haproxy.port == 3219 and test.haproxy.bind_address == "localhost"


# --- the command line: `synapse -c FILE`, SYNAPSE_CONFIG -----------------------------------


def daemon_config(tmp_path: Path) -> Path:
    """A config that runs without ZooKeeper: a base service, written by file_output."""
    service = {"discovery": {"method": "base"}, "default_servers": [
        {"name": "d1", "host": "127.0.0.1", "port": 8080}]}  # fmt: skip
    config = {"services": {"web": service},
              "file_output": {"output_directory": str(tmp_path / "out")}}  # fmt: skip
    path = tmp_path / "synapse.conf.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize("how", ["-c", "SYNAPSE_CONFIG"])
def test_rubys_command_line_runs_the_daemon(tmp_path, how):
    config = daemon_config(tmp_path)
    args, env = (["-c", str(config)], {}) if how == "-c" else ([], {"SYNAPSE_CONFIG": str(config)})
    log = open(tmp_path / "log", "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "synapse_py.cli", *args],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        wait_for(lambda: (tmp_path / "out" / "web.json").exists(), 20, message="file_output")
        assert '"d1"' in (tmp_path / "out" / "web.json").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, (tmp_path / "log").read_text()


def test_subcommands_take_the_config_from_synapse_config_too(tmp_path):
    config = daemon_config(tmp_path)
    out = synapse_py(tmp_path, "validate", env={"SYNAPSE_CONFIG": str(config)})
    assert out.returncode == 0 and "OK (1 service(s))" in out.stdout
    out = synapse_py(tmp_path, "-c", str(config), "validate")
    assert out.returncode == 0
    (tmp_path / "overlay.yaml").write_text("services: {web: {use_previous_backends: 1}}\n")
    out = synapse_py(tmp_path, "-c", str(config), "--config-overlay", "overlay.yaml", "validate")
    assert out.returncode == 2 and "overlay.yaml: services.web.use_previous_backends" in out.stderr


def test_no_config_at_all_is_a_usage_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SYNAPSE_CONFIG"}
    out = subprocess.run([sys.executable, "-m", "synapse_py.cli", "validate"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 2 and "give -c FILE or set SYNAPSE_CONFIG" in out.stderr


# --- per-service generator sections ------------------------------------------------------


def test_a_service_with_haproxy_disabled_still_reaches_the_other_generators(tmp_path):
    """Ruby: `"haproxy": {"disabled": true}` renders no HAProxy section for the service; the
    other generators (file_output, envoy) still get it. `"envoy": {"disabled": true}` is ours."""
    from synapse_py.commands import render_haproxy_config
    from synapse_py.generators.file_output import FileOutputGenerator

    hidden = {"discovery": {"method": "base"}, "haproxy": {"port": 4100, "disabled": True},
              "default_servers": [{"name": "h1", "host": "127.0.0.1", "port": 8081}]}  # fmt: skip
    shown = {**hidden, "haproxy": {"port": 4101}, "envoy": {"disabled": True}}
    config = {"services": {"hidden": hidden, "shown": shown},
              "haproxy": {"do_writes": False, "do_reloads": False, "do_socket": False,
                          "global": [], "defaults": []},
              "file_output": {"output_directory": str(tmp_path / "out")}}  # fmt: skip
    path = tmp_path / "synapse.yaml"
    path.write_text(json.dumps(config))
    loaded = load_config(path)
    text = render_haproxy_config(loaded, timeout=1)
    assert "backend shown" in text and "hidden" not in text
    members = {s.name: s.default_servers for s in loaded.services}
    FileOutputGenerator(loaded.file_output).apply(loaded.services, members)
    assert '"h1"' in (tmp_path / "out" / "hidden.json").read_text()
    assert loaded.service("shown").envoy is None
