"""nerve-py's errors reach the user as one line each and an exit code, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from nerve_py.cli import EXIT_CODES, exit_code, main
from nerve_py.errors import ConfigError, NerveError, ReportFailures, SetupError, UnknownService
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
    assert exit_code(ConfigError("f", "k", "p")) == 2
    assert exit_code(UnknownService("f", "x", ["web"])) == 2
    assert exit_code(SetupError(["a", "b"])) == 2
    assert exit_code(ReportFailures("refused")) == 1
    assert exit_code(NerveError("other")) == 1
    assert exit_code(PermissionError(13, "Permission denied", "/x")) == 1
    assert exit_code(MetricsUnavailable("port taken")) == 1
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


def as_nobody() -> list[str]:
    """A prefix running a command as an unprivileged user (root writes anywhere)."""
    if os.getuid() != 0:
        return []
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def open_folder():
    """A temp folder an unprivileged user can enter (pytest's own are root's, mode 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="nerve-py-errors-"))
    folder.chmod(0o755)
    yield folder
    for sub in folder.rglob("*"):
        if sub.is_dir():
            sub.chmod(0o755)
    shutil.rmtree(folder)


def test_run_with_an_unwritable_state_dir_exits_2_with_one_line_per_folder(open_folder):
    state = open_folder / "state"
    (state / "maintenance").mkdir(parents=True)
    config = write_config(open_folder)
    for folder in (state / "maintenance", state):
        folder.chmod(0o555)  # readable, not writable, by anyone without privileges
    proc = subprocess.run(
        [*as_nobody(), sys.executable, "-m", "nerve_py.cli", "run", "-c", config],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"nerve-py: state_dir {state}: cannot write there: Permission denied",
        f"nerve-py: state_dir {state / 'maintenance'}: cannot write there: Permission denied",
    ]
