"""`synapse-py run` lists every problem preflight finds before it starts, then exits 2."""

from __future__ import annotations

import json

from click.testing import CliRunner

from synapse_py.cli import main


def test_run_reports_every_missing_folder_at_once(tmp_path):
    missing = tmp_path / "missing"
    config = {
        "services": {
            "web": {
                "discovery": {"method": "zookeeper", "hosts": ["127.0.0.1:1"], "path": "/n/web"},
                "haproxy": {"port": 3213},
            }
        },
        "haproxy": {
            "config_file_path": str(missing / "haproxy" / "haproxy.cfg"),
            "reload_command": "true",
            "socket_file_path": str(tmp_path / "admin.sock"),
            "global": ["daemon"],
            "defaults": ["mode http"],
        },
        "state_file_path": str(missing / "state" / "synapse.state"),
    }
    path = tmp_path / "synapse.json"
    path.write_text(json.dumps(config))
    r = CliRunner().invoke(main, ["run", "-c", str(path)])
    assert r.exit_code == 2, r.output
    assert r.output.splitlines() == [
        f"synapse-py: {path}: haproxy.config_file_path: folder {missing}/haproxy does not exist",
        f"synapse-py: {path}: state_file_path: folder {missing / 'state'} does not exist",
    ]
