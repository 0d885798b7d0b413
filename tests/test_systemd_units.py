"""The unit files in examples/systemd: the settings they must have, and `systemd-analyze verify`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from smartstack_common.cli import EXIT_CONFIG
from synapse_py.generators.envoy.files import EnvoyLayout

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "examples" / "systemd"
DOCS = ROOT / "docs"
SETUP_CFG = ROOT / "setup.cfg"
DAEMONS = ("nerve-py.service", "synapse-py.service")
PROXIES = ("haproxy-synapse.service", "envoy-synapse.service")
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "PrivateTmp": "yes",
    "ProtectHome": "yes",
    "RestrictSUIDSGID": "yes",
}
INSTALL_PREFIX = "/opt/smartstack-py/bin/"  # where the README installs the virtualenv
DOCS_PREFIX = "file:/opt/smartstack-py/share/doc/smartstack-py/"  # where the wheel puts docs/*.md
ENVOY_OUTPUT = "/var/lib/synapse-py/envoy"  # envoy.output_directory in the README's example


def settings(unit: str) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file, values in order (keys like ExecReload repeat)."""
    found: dict[str, list[str]] = {}
    for line in (UNITS / unit).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.mark.parametrize("unit", DAEMONS)
def test_daemon_units_notify_watchdog_reload_restart(unit):
    s = settings(unit)
    assert s["Type"] == ["notify"]
    assert s["WatchdogSec"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["Restart"] == ["on-failure"]
    assert s["ExecStart"][0].startswith(INSTALL_PREFIX) and "run -c" in s["ExecStart"][0]


@pytest.mark.parametrize("unit", DAEMONS)
def test_a_config_error_is_not_restarted(unit):
    """Exit 2 (EXIT_CONFIG) means a bad config or folder: a restart cannot fix it."""
    s = settings(unit)
    assert s["RestartPreventExitStatus"] == [str(EXIT_CONFIG)]
    # RestartPreventExitStatus= reads the main process's status only: an ExecStartPre=validate
    # failing with 2 would be restarted; `run` validates and exits 2 itself
    assert "ExecStartPre" not in s


@pytest.mark.parametrize("unit", DAEMONS + PROXIES)
def test_documentation_names_docs_the_wheel_installs(unit):
    """`systemctl help UNIT` opens them: each file: URI is a docs/*.md that setup.cfg installs."""
    uris = " ".join(settings(unit)["Documentation"]).split()
    ours = [u.removeprefix(DOCS_PREFIX) for u in uris if u.startswith(DOCS_PREFIX)]
    assert ours, uris
    for name in ours:
        assert (DOCS / name).is_file(), name
    assert "share/doc/smartstack-py = docs/*.md" in " ".join(SETUP_CFG.read_text().split())


def test_envoy_runs_the_bootstrap_synapse_writes():
    bootstrap = EnvoyLayout(ENVOY_OUTPUT).bootstrap
    s = settings("envoy-synapse.service")
    assert s["Environment"] == [f"BOOTSTRAP={bootstrap}"]
    assert s["ExecStart"][0].startswith("/usr/local/bin/envoy -c $BOOTSTRAP ")
    readme = (UNITS / "README.md").read_text()
    assert f'"output_directory": "{ENVOY_OUTPUT}"' in readme


@pytest.mark.parametrize("unit", DAEMONS + PROXIES)
def test_units_run_as_a_dedicated_user_hardened(unit):
    s = settings(unit)
    assert s["User"][0] in ("nerve-py", "synapse-py")
    assert {k: s.get(k, [None])[0] for k in HARDENING} == HARDENING
    assert s.get("ReadWritePaths") or s.get("StateDirectory") or s.get("RuntimeDirectory")


def test_synapse_writes_where_haproxy_reads():
    synapse, haproxy = settings("synapse-py.service"), settings("haproxy-synapse.service")
    assert "/var/lib/synapse-py" in synapse["ReadWritePaths"]
    assert "CONFIG=/var/lib/synapse-py/haproxy.cfg" in haproxy["Environment"][0]
    assert settings("haproxy-synapse.service")["Type"] == ["notify"]  # haproxy -Ws notifies


def test_systemd_analyze_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    bin_dir = Path(sys.executable).parent  # the test virtualenv has nerve-py and synapse-py
    for unit in UNITS.glob("*.service"):
        text = unit.read_text().replace(INSTALL_PREFIX, f"{bin_dir}/")
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(map(str, tmp_path.glob("*.service")))],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    problems = [line for line in result.stderr.splitlines() if not _envoy_absent(line)]
    assert problems == [], result.stderr
    assert result.returncode == 0 or result.stderr, "verify failed without saying why"


def _envoy_absent(line: str) -> bool:
    """Envoy has no Debian package: its unit may name a binary this machine does not have."""
    envoy = Path("/usr/local/bin/envoy")
    return f"{envoy} is not executable" in line and not envoy.exists()
