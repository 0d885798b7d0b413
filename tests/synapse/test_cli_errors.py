"""synapse-py's errors reach the user as one line each and an exit code, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import unprivileged
from support.ports import free_port

from smartstack_common.cli import exit_code_of
from smartstack_common.metrics import MetricsUnavailable
from synapse_py.cli import EXIT_CODES, main
from synapse_py.errors import (
    ConfigError,
    ProxyUnavailable,
    RegistryUnavailable,
    SetupError,
    SynapseError,
)

COMMANDS = ["validate", "render", "status", "run"]


def write_config(
    folder: Path, zk_port: int = 1, service_conf_dir: str | None = None, **haproxy
) -> str:
    """A valid config: one ZooKeeper service and an HAProxy section that touches nothing."""
    path = folder / "synapse.json"
    service = {
        "discovery": {"method": "zookeeper", "hosts": [f"127.0.0.1:{zk_port}"], "path": "/n/web"},
        "haproxy": {"port": 3213},
    }
    hap = {"do_writes": False, "do_reloads": False, "do_socket": False, **haproxy}
    top = {"service_conf_dir": service_conf_dir} if service_conf_dir else {}
    path.write_text(json.dumps({"services": {"web": service}, "haproxy": hap, **top}))
    return str(path)


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def assert_clean_exit(r, code: int) -> list[str]:
    """The command exited with `code` through sys.exit, printed no traceback; its lines."""
    assert r.exit_code == code, r.output
    assert isinstance(r.exception, SystemExit), r.exception
    assert "Traceback" not in r.output
    return r.output.splitlines()


def test_every_error_class_has_its_exit_code():
    assert exit_code_of(ConfigError("f: k: bad"), EXIT_CODES) == 2
    assert exit_code_of(SetupError(["a", "b"]), EXIT_CODES) == 2
    assert exit_code_of(RegistryUnavailable("zk down"), EXIT_CODES) == 1
    assert exit_code_of(ProxyUnavailable("no socket"), EXIT_CODES) == 1
    assert exit_code_of(SynapseError("other"), EXIT_CODES) == 1
    assert exit_code_of(PermissionError(13, "Permission denied", "/x"), EXIT_CODES) == 1
    assert exit_code_of(MetricsUnavailable("port taken"), EXIT_CODES) == 1
    known = SynapseError | MetricsUnavailable | OSError
    assert all(issubclass(cls, known) for cls, _ in EXIT_CODES)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_config_file_is_one_line_and_exit_2(tmp_path, command):
    missing = tmp_path / "nosuch.json"
    lines = assert_clean_exit(invoke(command, "-c", str(missing)), 2)
    assert lines == [f"synapse-py: config error: {missing}: cannot read: No such file or directory"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_overlay_is_one_line_and_exit_2(tmp_path, command):
    missing = tmp_path / "nosuch.yaml"
    r = invoke(command, "-c", write_config(tmp_path), "--config-overlay", str(missing))
    lines = assert_clean_exit(r, 2)
    assert lines == [f"synapse-py: config error: {missing}: cannot read: No such file or directory"]


@pytest.fixture
def open_folder():
    with unprivileged.open_folder("synapse-py-errors-") as folder:
        yield folder


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unreadable_config_is_one_line_and_exit_2(open_folder, command):
    config = write_config(open_folder)
    Path(config).chmod(0o600)  # root's: an unprivileged user cannot read it
    lines = unprivileged.unprivileged_stderr("synapse_py.cli", command, "-c", config, code=2)
    assert f"Error: Invalid value for '-c' / '--config': File '{config}' is not readable." in lines


@pytest.mark.parametrize("command", ["validate", "run"])
def test_an_unreadable_service_conf_dir_is_a_config_error(open_folder, command):
    conf_dir = unprivileged.unlisted_folder(open_folder)
    config = write_config(open_folder, service_conf_dir=str(conf_dir))
    lines = unprivileged.unprivileged_stderr("synapse_py.cli", command, "-c", config, code=2)
    assert lines == [
        f"synapse-py: config error: {config}: service_conf_dir: {conf_dir}: cannot read: "
        "Permission denied"
    ]


def test_an_unreadable_service_file_is_a_config_error(open_folder):
    conf_dir = open_folder / "services.d"
    conf_dir.mkdir(mode=0o755)
    service = conf_dir / "api.json"
    service.write_text(json.dumps({"discovery": {"method": "base"}, "haproxy": {"port": 3214}}))
    service.chmod(0o600)
    config = write_config(open_folder, service_conf_dir=str(conf_dir))
    lines = unprivileged.unprivileged_stderr("synapse_py.cli", "validate", "-c", config, code=2)
    assert lines == [f"synapse-py: config error: {service}: cannot read: Permission denied"]


@pytest.mark.parametrize("command", ["render", "status"])
def test_a_service_name_is_refused_as_a_usage_error(tmp_path, command):
    """No one-shot command takes a service name: one names it is told so, not a traceback."""
    r = invoke(command, "-c", write_config(tmp_path), "nosuch")
    assert_clean_exit(r, 2)
    assert "unexpected extra argument (nosuch)" in r.output


def test_render_with_zookeeper_unreachable_names_the_service_and_exits_1(tmp_path):
    config = write_config(tmp_path, zk_port=free_port())  # nothing listens there
    lines = assert_clean_exit(invoke("render", "-c", config, "--timeout", "1"), 1)
    assert lines[-1].startswith("synapse-py: services.web: cannot read zookeeper: ")
    assert "Timeout" in lines[-1]


def test_render_without_an_haproxy_section_is_a_config_error(tmp_path):
    path = tmp_path / "synapse.json"
    path.write_text(json.dumps({"services": {}, "file_output": {"output_directory": "/tmp"}}))
    lines = assert_clean_exit(invoke("render", "-c", str(path)), 2)
    assert lines == [
        f"synapse-py: config error: {path}: haproxy: missing, so there is nothing to render"
    ]


def test_status_without_an_admin_socket_is_a_config_error(tmp_path):
    config = write_config(tmp_path)
    lines = assert_clean_exit(invoke("status", "-c", config), 2)
    assert lines == [
        f"synapse-py: config error: {config}: haproxy.socket_file_path: not set, so there is no "
        "HAProxy admin socket to read"
    ]


def test_status_without_a_status_file_path_is_a_config_error(tmp_path):
    """Nothing says where the daemon publishes its status: no status_file_path, and no
    haproxy.config_file_path to put it beside."""
    config = write_config(tmp_path, socket_file_path=str(tmp_path / "admin.sock"))
    lines = assert_clean_exit(invoke("status", "-c", config), 2)
    assert lines == [
        f"synapse-py: config error: {config}: status_file_path: not set (nor "
        "haproxy.config_file_path), so there is no status file to read"
    ]


def test_status_with_no_haproxy_answering_is_one_line_and_exit_1(tmp_path):
    socket = tmp_path / "admin.sock"  # no HAProxy: the socket does not exist
    cfg = str(tmp_path / "haproxy.cfg")  # the status file goes beside it
    config = write_config(tmp_path, socket_file_path=str(socket), config_file_path=cfg)
    lines = assert_clean_exit(invoke("status", "-c", config), 1)
    assert len(lines) == 1
    assert lines[0].startswith(f"synapse-py: cannot read HAProxy admin socket {socket}: ")
