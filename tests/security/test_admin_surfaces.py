"""Admin surfaces are local and locked down by default: the HAProxy admin socket, the stats page,
Envoy's admin listener and the metrics endpoints."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest
from support.haproxy import HAPROXY, HaproxyFiles, wait_for
from support.secure import nerve_config, synapse_config

from synapse_py.config import HaproxyConfig, StatsConfig, load_config
from synapse_py.generators.haproxy.generator import HaproxyGenerator

from .test_fuzz_untrusted import FakeResolver, web_service


def render(config: HaproxyConfig) -> str:
    gen = HaproxyGenerator(config)
    gen._resolver = FakeResolver()
    try:
        return gen.render([web_service()], {"web": ()})
    finally:
        gen.stop()


def test_admin_socket_is_owner_only_in_the_file_and_on_disk(tmp_path):
    hx = HaproxyFiles(tmp_path)
    text = render(
        HaproxyConfig(
            config_file_path=hx.config,
            socket_file_path=hx.socket,
            do_reloads=False,
            defaults=("mode http", "timeout connect 1s", "timeout client 1s", "timeout server 1s"),
        )
    )
    assert f"stats socket {hx.socket} mode 600 level admin" in text
    (tmp_path / "haproxy.cfg").write_text(text)
    try:
        subprocess.run([HAPROXY, "-W", "-D", "-p", hx.pidfile, "-f", hx.config], check=True)
        # the socket can appear before the master writes its pid file: wait for both, so the
        # finally below can stop it by its pid
        assert wait_for(lambda: os.path.exists(hx.socket) and hx.master_pid() is not None, 10)
        mode = stat.S_IMODE(os.stat(hx.socket).st_mode)
        assert mode & 0o007 == 0 and mode & 0o020 == 0 and mode <= 0o660, oct(mode)
    finally:
        hx.stop()


def test_stats_page_binds_loopback_unless_told_and_takes_auth():
    assert "stats enable" not in render(HaproxyConfig(do_socket=False))  # off by default
    page = render(HaproxyConfig(do_socket=False, stats=StatsConfig(enabled=True)))
    assert "  bind 127.0.0.1:3212\n" in page
    secured = StatsConfig(enabled=True, bind_address="10.1.2.3", auth="ops:pw")
    page = render(HaproxyConfig(do_socket=False, stats=secured))
    assert "  bind 10.1.2.3:3212\n" in page and "  stats auth ops:pw\n" in page


def test_the_exporter_and_legends_are_off_unless_asked_and_the_exporter_takes_the_auth():
    page = render(HaproxyConfig(do_socket=False, stats=StatsConfig(enabled=True)))
    assert "prometheus-exporter" not in page and "show-legends" not in page
    open_exporter = StatsConfig(enabled=True, prometheus=True, show_legends=True)
    page = render(HaproxyConfig(do_socket=False, stats=open_exporter))
    assert "  http-request use-service prometheus-exporter if { path /metrics }\n" in page
    assert "  stats show-legends\n" in page and "userlist" not in page
    guarded = StatsConfig(enabled=True, prometheus=True, auth="ops:pw")
    page = render(HaproxyConfig(do_socket=False, stats=guarded))
    # HAProxy runs http-request rules before `stats auth`: the exporter needs its own guard
    assert "userlist synapse_stats_auth\n  user ops insecure-password pw\n" in page
    guard = "http-request auth realm synapse_stats if { path /metrics } !{ http_auth("
    assert page.index(guard) < page.index("use-service prometheus-exporter")


def test_haproxy_cfg_holding_the_stats_password_is_not_world_readable(tmp_path):
    path = tmp_path / "haproxy.cfg"
    config = HaproxyConfig(
        config_file_path=str(path),
        do_socket=False,
        do_reloads=False,
        stats=StatsConfig(enabled=True, auth="ops:pw"),
    )
    gen = HaproxyGenerator(config)
    gen._resolver = FakeResolver()
    gen.apply([web_service()], {"web": ()})
    gen.stop()
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o007 == 0


def test_envoy_admin_listener_binds_loopback_by_default(tmp_path):
    files = pytest.importorskip("synapse_py.generators.envoy.files")
    from synapse_py.config import EnvoyConfig

    bootstrap = files.render_bootstrap(
        EnvoyConfig(output_directory=str(tmp_path)), files.EnvoyLayout(str(tmp_path))
    )
    assert 'address: "127.0.0.1"' in bootstrap


@pytest.mark.parametrize("daemon", ["nerve_py", "synapse_py"])
def test_metrics_endpoint_binds_loopback_by_default(tmp_path, daemon):
    config_module = pytest.importorskip(f"{daemon}.config")
    if not hasattr(config_module, "MetricsConfig"):
        pytest.skip("no metrics endpoint in this tree")
    write = nerve_config if daemon == "nerve_py" else synapse_config
    path = write(tmp_path / "config.json", "127.0.0.1:2181", "/web", metrics={"port": 9100})
    assert config_module.load_config(path).metrics.bind == "127.0.0.1"


def test_synapse_validate_warns_about_a_readable_file_with_the_stats_password(tmp_path):
    path = tmp_path / "synapse.json"
    path.write_text(
        json.dumps(
            {
                "services": {},
                "haproxy": {
                    "do_writes": False,
                    "do_reloads": False,
                    "do_socket": False,
                    "stats": {"enabled": True, "auth": "ops:topsecret"},
                },
            }
        )
    )
    path.chmod(0o644)
    assert any("readable by every user" in w for w in load_config(path).warnings)
    path.chmod(0o600)
    assert not any("readable by every user" in w for w in load_config(path).warnings)
