"""nerve-py's errors reach the user as one line each and an exit code, never a traceback."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from support import unprivileged

from nerve_py.cli import EXIT_CODES, main
from nerve_py.errors import ConfigError, NerveError, ReportFailures, SetupError, UnknownService
from smartstack_common.cli import exit_code_of
from smartstack_common.metrics import MetricsUnavailable

SERVICE = {
    "host": "127.0.0.1",
    "port": 1,
    "zk_hosts": ["127.0.0.1:1"],
    "zk_path": "/nerve/web",
    "check_interval": 1,
    "checks": [{"type": "tcp", "timeout": 0.2}],
}


def write_config(tmp_path, **top) -> str:
    path = tmp_path / "nerve.json"
    conf = {"instance_id": "i-1", "state_dir": str(tmp_path / "state"), **top}
    path.write_text(json.dumps({"services": {"web": SERVICE}, **conf}))
    return str(path)


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_every_error_class_has_its_exit_code():
    assert exit_code_of(ConfigError("f", "k", "p"), EXIT_CODES) == 2
    assert exit_code_of(UnknownService("f", "x", ["web"]), EXIT_CODES) == 2
    assert exit_code_of(SetupError(["a", "b"]), EXIT_CODES) == 2
    assert exit_code_of(ReportFailures("refused"), EXIT_CODES) == 1
    assert exit_code_of(NerveError("other"), EXIT_CODES) == 1
    assert exit_code_of(PermissionError(13, "Permission denied", "/x"), EXIT_CODES) == 1
    assert exit_code_of(MetricsUnavailable("port taken"), EXIT_CODES) == 1
    known = NerveError | MetricsUnavailable | OSError
    assert all(issubclass(cls, known) for cls, _ in EXIT_CODES)


@pytest.mark.parametrize("command", [["check"], ["maint", "down"], ["maint", "up"]])
def test_an_unknown_service_is_named_with_the_known_ones(tmp_path, command):
    config = write_config(tmp_path)
    r = invoke(*command, "-c", config, "nosuch")
    assert r.exit_code == 2, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert f"nerve-py: {config}: no service named 'nosuch' (services: web)" in r.output
    assert "Traceback" not in r.output


def test_a_config_error_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"instance_id": "i", "services": {"web": {**SERVICE, "port": "x"}}}))
    for args in (["validate", "-c", str(path)], ["-c", str(path), "-k"], ["run", "-c", str(path)]):
        r = invoke(*args)
        assert r.exit_code == 2 and isinstance(r.exception, SystemExit), (args, r.output)
        assert r.output.startswith(f"nerve-py: config error: {path}: services.web.port")


def test_maint_in_a_state_dir_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "state").write_text("not a folder")
    config = write_config(tmp_path)
    r = invoke("maint", "down", "web", "-c", config)
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit), r.output
    assert r.output.startswith(f"nerve-py: state_dir {tmp_path / 'state'}: cannot create: ")


def test_run_reports_every_setup_problem_before_starting(tmp_path):
    (tmp_path / "state").write_text("not a folder")
    config = write_config(tmp_path, heartbeat_path=str(tmp_path / "no" / "such" / "beat"))
    r = invoke("run", "-c", config)
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit), r.output
    lines = r.output.splitlines()
    assert lines[0].startswith(f"nerve-py: state_dir {tmp_path / 'state'}: cannot create: ")
    assert lines[1] == (
        f"nerve-py: heartbeat_path {tmp_path / 'no/such/beat'}: folder does not exist"
    )


@pytest.fixture
def open_folder():
    with unprivileged.open_folder("nerve-py-errors-") as folder:
        yield folder


def test_run_with_an_unwritable_state_dir_exits_2_with_one_line_per_folder(open_folder):
    state = open_folder / "state"
    (state / "maintenance").mkdir(parents=True)
    config = write_config(open_folder)
    for folder in (state / "maintenance", state):
        folder.chmod(0o555)  # readable, not writable, by anyone without privileges
    proc = unprivileged.run_unprivileged("nerve_py.cli", "run", "-c", config)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"nerve-py: state_dir {state}: cannot write there: Permission denied",
        f"nerve-py: state_dir {state / 'maintenance'}: cannot write there: Permission denied",
    ]


@pytest.mark.parametrize("command", ["run", "validate", "check"])
def test_an_unreadable_config_is_one_line_and_exit_2(open_folder, command):
    config = write_config(open_folder)
    (open_folder / "nerve.json").chmod(0o600)  # root's: an unprivileged user cannot read it
    lines = unprivileged.unprivileged_stderr("nerve_py.cli", command, "-c", config, code=2)
    assert f"Error: Invalid value for '-c' / '--config': File '{config}' is not readable." in lines


@pytest.mark.parametrize("command", ["run", "validate"])
def test_an_unreadable_service_conf_dir_is_a_config_error(open_folder, command):
    conf_dir = unprivileged.unlisted_folder(open_folder)
    config = write_config(open_folder, service_conf_dir=str(conf_dir))
    lines = unprivileged.unprivileged_stderr("nerve_py.cli", command, "-c", config, code=2)
    assert lines == [
        f"nerve-py: config error: {config}: service_conf_dir: {conf_dir}: cannot read: "
        "Permission denied"
    ]
