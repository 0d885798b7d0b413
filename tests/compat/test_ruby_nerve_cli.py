"""Ruby nerve's command line works on nerve-py: -c, -i/--instance_id, -k, NERVE_* variables.

The last test runs a Ruby systemd unit's ExecStart with only the binary name changed against a
real ZooKeeper and finds the node.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from kazoo.exceptions import NoNodeError
from support.procs import wait_for
from support.ruby_nerve_ref import ROOT

from nerve_py.cli import main

EXAMPLE = ROOT / "examples" / "nerve"


def ruby_config(tmp_path: Path, port: int = 8080, zk: str = "localhost:2181", **top) -> Path:
    service = {
        "host": "127.0.0.1",
        "port": port,
        "reporter_type": "zookeeper",
        "zk_hosts": [zk],
        "zk_path": "/nerve/services/web/services",
        "check_interval": 0.2,
        "checks": [{"type": "tcp", "timeout": 0.5, "rise": 1, "fall": 1}],
    }
    path = tmp_path / "nerve.conf.json"
    path.write_text(json.dumps({"instance_id": "i-file", "services": {"web": service}, **top}))
    return path


def invoke(args: list[str], env: dict | None = None):
    return CliRunner().invoke(main, args, env={"NERVE_CHECK_CONFIG": None, **(env or {})})


def test_check_config_flag(tmp_path):
    path = ruby_config(tmp_path)
    for flag in ("-k", "--check-config"):
        r = invoke(["-c", str(path), flag])
        assert r.exit_code == 0 and "OK (1 service(s))" in r.output
    path.write_text(path.read_text().replace('"port": 8080', '"port": "http"'))
    r = invoke(["--config", str(path), "-k"])
    assert r.exit_code != 0 and "services.web.port" in r.output


def test_environment_variables(tmp_path):
    path = ruby_config(tmp_path)
    r = invoke(["-k"], env={"NERVE_CONFIG": str(path)})
    assert r.exit_code == 0, r.output
    r = invoke([], env={"NERVE_CONFIG": str(path), "NERVE_CHECK_CONFIG": "1"})
    assert r.exit_code == 0 and "OK" in r.output  # set: check only (Ruby: any value)
    r = invoke(["validate"], env={"NERVE_CONFIG": str(path), "NERVE_INSTANCE_ID": "bad id"})
    assert r.exit_code == 2 and "instance_id" in r.output


def test_instance_id_flag_and_subcommands_take_the_top_level_options(tmp_path):
    path = ruby_config(tmp_path)
    for flag in ("-i", "--instance_id", "--instance-id"):
        r = invoke(["-c", str(path), flag, "bad id", "-k"])
        assert r.exit_code == 2 and "instance_id" in r.output, flag
    assert invoke(["-c", str(path), "-i", "i-cli", "validate"]).exit_code == 0
    assert invoke(["validate", "-c", str(path), "-i", "i-cli"]).exit_code == 0  # as before


def test_an_option_wins_over_the_environment(tmp_path):
    path = ruby_config(tmp_path)
    env = {"NERVE_CONFIG": str(tmp_path / "missing.json"), "NERVE_INSTANCE_ID": "bad id"}
    for args in (
        ["-c", str(path), "-i", "i-1", "validate"],
        ["validate", "-c", str(path), "-i", "x"],
    ):
        assert invoke(args, env).exit_code == 0, args


def test_no_config_is_a_usage_error():
    r = invoke([], env={"NERVE_CONFIG": None})
    assert r.exit_code == 2 and "give -c FILE or set NERVE_CONFIG" in r.output


def test_config_overlay_on_every_command(tmp_path):
    path = ruby_config(tmp_path)
    overlay = tmp_path / "nerve-py.yaml"
    overlay.write_text(f"state_dir: {tmp_path / 'state'}\nzk_session_timeout: 3\n")
    for args in (
        ["-c", str(path), "--config-overlay", str(overlay), "-k"],
        ["validate", "-c", str(path), "--config-overlay", str(overlay)],
    ):
        r = invoke(args)
        assert r.exit_code == 0, r.output
    r = invoke(["maint", "down", "web", "-c", str(path)], {"NERVE_CONFIG_OVERLAY": str(overlay)})
    assert r.exit_code == 0 and (tmp_path / "state" / "maintenance" / "web").exists()
    overlay.write_text("zk_session_timeout: forever\n")
    r = invoke(["-c", str(path), "--config-overlay", str(overlay), "-k"])
    assert r.exit_code == 2 and f"{overlay}: zk_session_timeout" in r.output


def test_ruby_example_validates_from_its_folder_except_etcd(tmp_path, monkeypatch):
    """examples/nerve as Ruby runs it (from the repo root): only the etcd service is refused."""
    monkeypatch.chdir(EXAMPLE)
    r = invoke(["-c", "example/nerve.conf.json", "-k"])
    etcd = EXAMPLE / "example" / "nerve_services" / "etcd_service1.json"
    assert r.exit_code == 2
    assert f"{etcd}: reporter_type: the etcd reporter is not supported" in r.output
    copy = tmp_path / "nerve"
    shutil.copytree(EXAMPLE, copy)
    (copy / "example" / "nerve_services" / "etcd_service1.json").unlink()
    monkeypatch.chdir(copy)
    r = invoke(["-c", "example/nerve.conf.json", "-k"])
    assert r.exit_code == 0, r.output
    assert "OK (4 service(s))" in r.output and "statsd" in r.output  # warned, not refused


RUBY_UNIT = """\
[Unit]
Description=nerve
After=network.target

[Service]
ExecStart=/usr/bin/nerve -c {config}
Restart=always

[Install]
WantedBy=multi-user.target
"""


def exec_start(unit: str) -> list[str]:
    line = next(ln for ln in unit.splitlines() if ln.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


@pytest.mark.integration
def test_ruby_systemd_unit_with_only_the_binary_renamed(
    tmp_path, zk, zk_server, zk_root, http_backend
):
    web = http_backend()
    config = ruby_config(tmp_path, web.port, zk_server.hosts)
    config.write_text(config.read_text().replace("/nerve/services", f"{zk_root}/nerve/services"))
    unit = RUBY_UNIT.format(config=config).replace("/usr/bin/nerve ", f"{nerve_py_binary()} ")
    log = (tmp_path / "nerve.log").open("wb")
    proc = subprocess.Popen(exec_start(unit), cwd="/", stdout=log, stderr=subprocess.STDOUT)
    path = f"{zk_root}/nerve/services/web/services"
    try:
        children = wait_for(lambda: zk.exists(path) and zk.get_children(path), 20, message="node")
        data = json.loads(zk.get(f"{path}/{children[0]}")[0])
        assert children[0].startswith("i-file_")
        assert data == {"host": "127.0.0.1", "port": web.port, "name": "i-file"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert zk.get_children(path) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        log.close()
        print((tmp_path / "nerve.log").read_text()[-3000:])


def nerve_py_binary() -> str:
    return str(Path(sys.executable).parent / "nerve-py")


@pytest.mark.integration
def test_sighup_rereads_the_overlay(tmp_path, zk, zk_server, zk_root, http_backend):
    web = http_backend()
    config = ruby_config(tmp_path, web.port, zk_server.hosts)
    overlay = tmp_path / "nerve-py.yaml"
    path = f"{zk_root}/web"
    ours = f"state_dir: {tmp_path / 'state'}\nservices: {{web: {{zk_path: {path}, weight: 1}}}}\n"
    overlay.write_text(ours)
    args = [nerve_py_binary(), "-c", str(config), "--config-overlay", str(overlay)]
    proc = subprocess.Popen(args, cwd=tmp_path, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _weights(zk, path) == [1], 20, message="weight 1")
        overlay.write_text(ours.replace("weight: 1", "weight: 5"))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: _weights(zk, path) == [5], 20, message="weight 5 after SIGHUP")
    finally:
        proc.terminate()
        proc.wait(15)


def _weights(zk, path: str) -> list:
    """The weights registered under `path`; a node replaced between listing and read is left out."""
    weights = []
    for child in zk.get_children(path) if zk.exists(path) else ():
        with contextlib.suppress(NoNodeError):
            weights.append(json.loads(zk.get(f"{path}/{child}")[0]).get("weight"))
    return weights
