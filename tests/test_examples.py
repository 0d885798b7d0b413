"""Every config in examples/ is valid, and the demo runs to the end leaving nothing running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nerve_py.config import load_config as load_nerve
from synapse_py.config import load_config as load_synapse

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_nerve_example_is_valid(monkeypatch):
    monkeypatch.chdir(EXAMPLES / "nerve")  # service_conf_dir is relative to it, as in Ruby nerve
    config = load_nerve(EXAMPLES / "nerve" / "nerve.json")
    assert [s.name for s in config.services] == ["web-1", "web-2", "web-3"]
    assert not config.warnings


def test_synapse_example_is_valid():
    config = load_synapse(EXAMPLES / "synapse" / "synapse.json")
    assert [s.name for s in config.services] == ["web"] and not config.warnings


@pytest.mark.integration
def test_demo_runs_and_leaves_nothing_running(tmp_path):
    before = _our_children()
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py")],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for step in ("web-2 leave", "maintenance", "no reload", "nothing is left running"):
        assert step.split()[0] in out.stdout
    assert "no reload" in out.stdout
    assert _our_children() == before


def _our_children() -> set[str]:
    """haproxy/ZooKeeper processes whose command line names a demo folder."""
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().split()[2]
        except (OSError, IndexError):
            continue
        if b"smartstack-demo-" in cmd and state != "Z":
            found.add(proc.name)
    return found
