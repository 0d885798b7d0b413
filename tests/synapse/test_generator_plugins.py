"""Third-party generators through the `synapse_py.generators` entry point group: a toy plug-in in
a distribution made by the test is validated by its own keys and run by a real synapse-py."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from support.plugin_dist import distribution, env_with

from synapse_py import generators

TOY = '''
    """A toy generator: one line per backend, `<service> <host>:<port> <label>`, in one file."""

    import os

    from synapse_py.generators.base import GeneratorBase
    from smartstack_common.atomic import write_atomic


    class LinesGenerator(GeneratorBase):
        name = "toy_lines"
        keys = {"path": {"type": "string", "minLength": 1}}
        required = ("path",)
        service_keys = {"label": {"type": "string"}}

        def __init__(self, section):
            super().__init__(section)
            self.writes = 0
            self.lines_written = 0

        @classmethod
        def owned(cls, section):
            return [os.path.split(section["path"])]

        def apply(self, services, membership):
            lines = []
            for svc in services:
                label = svc.generator_sections.get("toy_lines", {}).get("label", "-")
                for b in membership.get(svc.name, ()):
                    lines.append(f"{svc.name} {b.host}:{b.port} {label}")
            write_atomic(self.config["path"], "\\n".join(lines) + "\\n")
            self.writes += 1
            self.lines_written += len(lines)
'''

NOT_A_GENERATOR = """
    class Plain:
        name = "plain"
"""


def toy_distribution(folder: Path) -> Path:
    return distribution(
        folder,
        "toy-generator",
        {"toy_generator": TOY, "plain_generator": NOT_A_GENERATOR},
        {"synapse_py.generators": {"toy_lines": "toy_generator:LinesGenerator",
                                   "plain": "plain_generator:Plain",
                                   "haproxy": "toy_generator:LinesGenerator"}},
    )  # fmt: skip


def test_entry_points_register_generators_but_not_over_a_built_in_or_a_non_generator(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.syspath_prepend(str(toy_distribution(tmp_path)))
    found: dict = {}
    assert generators.load_entry_points(registry=found) == ["toy_lines"]
    assert found["toy_lines"].__name__ == "LinesGenerator"
    assert "'haproxy' is a built-in generator" in caplog.text
    assert "'plain'" in caplog.text and "not a GeneratorBase" in caplog.text


def config(tmp_path: Path, **sections) -> Path:
    web = {
        "discovery": {"method": "base"},
        "default_servers": [{"name": "a", "host": "127.0.0.1", "port": 8081}],
        "toy_lines": {"label": "blue"},
    }
    path = tmp_path / "synapse.json"
    path.write_text(json.dumps({"services": {"web": web}, **sections}))
    return path


def _synapse(*args: str, plugins: Path, **kw):
    cli = [sys.executable, "-m", "synapse_py.cli", *args]
    return subprocess.run(cli, env=env_with(plugins), capture_output=True, text=True,
                          timeout=60, **kw)  # fmt: skip


def test_validate_checks_a_plug_ins_sections_with_its_keys(tmp_path):
    plugins = toy_distribution(tmp_path / "plugins")
    bad = _synapse("validate", "-c", str(config(tmp_path, toy_lines={"path": 3})), plugins=plugins)
    assert bad.returncode == 2 and "toy_lines.path" in bad.stderr, bad.stderr
    missing = _synapse("validate", "-c", str(config(tmp_path, toy_lines={})), plugins=plugins)
    assert missing.returncode == 2 and "'path' is a required property" in missing.stderr


def test_without_the_plug_in_its_section_is_refused(tmp_path):
    path = config(tmp_path, toy_lines={"path": str(tmp_path / "out.txt")})
    done = subprocess.run([sys.executable, "-m", "synapse_py.cli", "validate", "-c", str(path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and "toy_lines" in done.stderr, done.stderr


def test_the_daemon_runs_a_plug_in_generator(tmp_path):
    plugins = toy_distribution(tmp_path / "plugins")
    out = tmp_path / "out" / "lines.txt"
    out.parent.mkdir()
    path = config(tmp_path, toy_lines={"path": str(out)})
    assert _synapse("validate", "-c", str(path), plugins=plugins).returncode == 0
    cli = [sys.executable, "-m", "synapse_py.cli", "run", "-c", str(path)]
    proc = subprocess.Popen(cli, env=env_with(plugins), stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert out.read_text() == "web 127.0.0.1:8081 blue\n"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
