"""Third-party check types through the `nerve_py.checks` entry point group: a toy plug-in in a
distribution made by the test is registered and run by a real nerve-py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.plugin_dist import distribution, env_with

from nerve_py import checks

TOY = '''
    """A toy check type: up when the file named by `path` exists."""

    import os

    from nerve_py.checks.base import Check, CheckFailed


    class FileExists(Check):
        own_keys = frozenset({"path"})

        def __init__(self, conf, host, port):
            super().__init__(conf, host, port)
            self.path = conf["path"]

        def check(self):
            if not os.path.exists(self.path):
                raise CheckFailed(f"{self.path} is missing")
            return True
'''


def toy_distribution(folder: Path) -> Path:
    return distribution(folder, "toy-check", {"toy_check": TOY},
                        {"nerve_py.checks": {"file_exists": "toy_check:FileExists",
                                             "tcp": "toy_check:FileExists"}})  # fmt: skip


def test_entry_points_register_check_types_but_not_over_a_built_in(tmp_path, monkeypatch, caplog):
    monkeypatch.syspath_prepend(str(toy_distribution(tmp_path)))
    monkeypatch.setattr(checks, "CHECKS", dict(checks.CHECKS))
    registry = checks.CHECKS
    monkeypatch.setattr(checks.base, "CHECKS", registry)
    assert checks.plugins.load_entry_points("nerve_py.checks", registry, {"tcp"}, "check type") == [
        "file_exists"
    ]
    assert registry["file_exists"].__name__ == "FileExists"
    assert registry["tcp"].__name__ == "TcpCheck"
    assert "'tcp' is a built-in check type" in caplog.text


def test_nerve_py_runs_a_plug_in_check(tmp_path):
    plugins = toy_distribution(tmp_path / "plugins")
    flag = tmp_path / "up"
    check = {"type": "file_exists", "path": str(flag)}
    service = {"host": "127.0.0.1", "port": 1, "zk_hosts": ["127.0.0.1:1"],
               "zk_path": "/nerve/web", "check_interval": 1, "checks": [check]}  # fmt: skip
    path = tmp_path / "nerve.json"
    path.write_text(json.dumps({"instance_id": "i-1", "services": {"web": service}}))
    cli = [sys.executable, "-m", "nerve_py.cli", "check", "-c", str(path), "web"]
    down = subprocess.run(cli, env=env_with(plugins), capture_output=True, text=True, timeout=60)
    assert down.returncode == 1 and "is missing" in down.stdout, down.stdout + down.stderr
    flag.touch()
    up = subprocess.run(cli, env=env_with(plugins), capture_output=True, text=True, timeout=60)
    assert up.returncode == 0, up.stdout + up.stderr
    plain = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 2 and "file_exists" in plain.stdout + plain.stderr
