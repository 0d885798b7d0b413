"""`synapse-py render` renders with the daemon's generator and config, so the two cannot drift."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from synapse_py.backend import Backend
from synapse_py.cli import main
from synapse_py.commands import diff_installed
from synapse_py.config import SynapseConfig, load_config
from synapse_py.generators.haproxy.generator import HaproxyGenerator
from synapse_py.generators.haproxy.readback import SEED_COMMENT, skeleton

ZK = {"method": "zookeeper", "hosts": ["127.0.0.1:2181"], "path": "/n/web"}


def loaded(tmp_path: Path, **haproxy) -> SynapseConfig:
    hap = {
        "config_file_path": str(tmp_path / "haproxy.cfg"),
        "socket_file_path": str(tmp_path / "admin.sock"),
        "reload_command": "true",
        **haproxy,
    }
    doc = {"services": {"web": {"discovery": ZK, "haproxy": {"port": 3213}}}, "haproxy": hap}
    (tmp_path / "synapse.json").write_text(json.dumps(doc))
    return load_config(tmp_path / "synapse.json", log_warnings=False)


MEMBERS = {"web": tuple(Backend(f"10.0.0.{i}", 80, f"n{i}") for i in range(1, 9))}


def rendered(config: SynapseConfig) -> str:
    assert config.haproxy is not None
    gen = HaproxyGenerator(config.haproxy, offline=True)
    try:
        return gen.render(config.services, MEMBERS)
    finally:
        gen.stop()


def test_the_offline_render_keeps_the_admin_socket_line(tmp_path):
    # today render drops do_socket, so its file lacks the line the daemon writes
    text = rendered(loaded(tmp_path))
    assert f"stats socket {tmp_path / 'admin.sock'} mode 600 level admin" in text


def test_a_drawn_seed_is_recorded_and_reused_so_the_order_survives(tmp_path):
    # today each start (and each render) draws its own seed: another server order
    config = loaded(tmp_path)
    first = rendered(config)
    assert first.splitlines()[1].startswith(f"{SEED_COMMENT} ")
    Path(config.haproxy.config_file_path).write_text(first)  # installed
    assert all(rendered(config) == first for _ in range(5))


def test_a_configured_seed_writes_no_comment(tmp_path):
    text = rendered(loaded(tmp_path, server_order_seed=7))
    assert SEED_COMMENT not in text


def test_a_file_from_before_the_seed_comment_is_adopted_all_the_same(tmp_path):
    text = rendered(loaded(tmp_path))
    older = "\n".join(line for line in text.splitlines() if not line.startswith(SEED_COMMENT))
    assert skeleton(older) == skeleton(text)


def test_diff_is_empty_when_the_installed_file_is_the_render(tmp_path):
    config = loaded(tmp_path)
    text = rendered(config)
    Path(config.haproxy.config_file_path).write_text(text)
    assert diff_installed(config, text) == ""
    changed = text + "# more\n"
    diff = diff_installed(config, changed).splitlines()
    assert diff[:2] == [f"--- {config.haproxy.config_file_path}", "+++ rendered"]
    assert diff[-1] == "+# more"


def test_diff_against_a_file_not_installed_yet(tmp_path):
    config = loaded(tmp_path)
    diff = diff_installed(config, "global\n").splitlines()
    assert diff[0] == f"--- {config.haproxy.config_file_path} (not installed)"
    assert diff[-1] == "+global"


def test_diff_exits_2_when_it_cannot_compare_as_diff_does(tmp_path):
    # 1 is "they differ": ZooKeeper unreachable must not read as a difference
    config = loaded(tmp_path)
    doc = json.loads(Path(config.source).read_text())
    doc["services"]["web"]["discovery"]["hosts"] = ["127.0.0.1:1"]
    Path(config.source).write_text(json.dumps(doc))
    args = ["render", "--timeout", "0.5", "-c", config.source]
    assert CliRunner().invoke(main, args).exit_code == 1  # render alone: a runtime failure
    r = CliRunner().invoke(main, [*args, "--diff"])
    assert r.exit_code == 2 and "cannot read zookeeper" in r.output, r.output
