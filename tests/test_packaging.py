"""What `python -m build` makes installs and runs on its own: templates, docs, LICENSE, completion.

The wheel is built from a copy of the source (offline: `--no-isolation`, with this virtualenv's
setuptools and wheel) and installed with `--no-deps --no-index` into a fresh virtualenv that sees
this one's site-packages only for the dependencies (a .pth file, appended after its own), so the
commands below run the installed copy, not the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from smartstack_common.cli import DOCS_SUBDIR

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "LICENSE", "docs", "templates",
           "nerve_py", "synapse_py", "smartstack_common")  # fmt: skip
TIMEOUT = 180
#: without the PYTHONPATH a test run may put the checkout on
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _run(cmd: list[str], env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("cwd", "/")  # not a folder with the source in it
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env or ENV, **kw
    )
    assert result.returncode == 0, f"{cmd}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The wheel `python -m build` makes from a clean copy of the source."""
    pytest.importorskip("build", reason="`build` is in the test extras (setup.cfg)")
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    dist = src / "dist"
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(src)])
    (wheel,) = dist.glob("*.whl")
    assert list(dist.glob("*.tar.gz")), "no sdist"
    return wheel


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel installed; its bin folder."""
    env = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(env)
    purelib = Path(
        sysconfig.get_path("purelib", vars={"base": str(env), "platbase": str(env)})
    )  # the new virtualenv's site-packages (same Python version as this one)
    python = env / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
          "--no-index", "--no-compile", str(built)])  # fmt: skip
    # only now: were this virtualenv's site-packages visible to pip, a smartstack-py installed
    # there (`make test` installs one) would be "already satisfied" and the wheel not installed
    (purelib / "shared-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    where = _run([str(python), "-c", "import synapse_py; print(synapse_py.__file__)"]).stdout
    assert where.startswith(str(env)), f"the installed copy is not the one imported: {where}"
    return env / "bin"


def test_wheel_holds_the_license_templates_and_docs(built):
    names = zipfile.ZipFile(built).namelist()
    assert any(n.endswith(".dist-info/LICENSE") for n in names)
    templates = {n for n in names if n.startswith("synapse_py/templates/") and n.endswith(".j2")}
    assert {
        p.relative_to(ROOT / "templates").as_posix() for p in (ROOT / "templates").rglob("*.j2")
    } == {n.removeprefix("synapse_py/templates/") for n in templates}
    docs = {n.rsplit("/", 1)[1] for n in names if f"/data/{DOCS_SUBDIR}/" in n}
    assert docs == {p.name for p in (ROOT / "docs").glob("*.md")}


def test_license_matches_the_metadata(built):
    assert "license = Apache-2.0" in (ROOT / "setup.cfg").read_text()
    assert (
        "Apache License\n                           Version 2.0" in (ROOT / "LICENSE").read_text()
    )
    with zipfile.ZipFile(built) as whl:
        (meta,) = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
        assert "License: Apache-2.0" in whl.read(meta).decode()


def test_installed_synapse_validates_and_renders_with_its_templates(installed, tmp_path, zk_server,
                                                                    zk, zk_root):  # fmt: skip
    path = f"{zk_root}/web/services"
    zk.create(f"{path}/i-1_0000000001", b'{"host":"127.0.0.1","port":8080,"name":"i-1"}',
              makepath=True)  # fmt: skip
    config = tmp_path / "synapse.json"
    config.write_text(json.dumps({
        "services": {"web": {
            "discovery": {"method": "zookeeper", "hosts": [zk_server.hosts], "path": path},
            "haproxy": {"port": 3213},
        }},
        "haproxy": {"config_file_path": str(tmp_path / "haproxy.cfg"), "do_reloads": False,
                    "do_socket": False, "global": [], "defaults": ["mode http"]},
    }))  # fmt: skip
    valid = _run([str(installed / "synapse-py"), "validate", "-c", str(config)])
    assert valid.returncode == 0
    rendered = _run([str(installed / "synapse-py"), "render", "-c", str(config),
                     "--timeout", "20"], cwd=tmp_path).stdout  # fmt: skip
    assert "backend web" in rendered and "127.0.0.1:8080" in rendered


def test_installed_nerve_validates_the_example(installed):
    example = ROOT / "examples" / "nerve"
    _run([str(installed / "nerve-py"), "validate", "-c", str(example / "nerve.json")],
         cwd=example)  # fmt: skip


@pytest.mark.parametrize("prog, page", [("nerve-py", "nerve.md"), ("synapse-py", "synapse.md")])
def test_help_names_the_installed_docs_and_completion(installed, prog, page):
    text = _run([str(installed / prog), "--help"]).stdout
    docs = installed.parent / DOCS_SUBDIR
    assert str(docs / page) in text and (docs / page).is_file()
    assert str(docs / "operations.md") in text and (docs / "operations.md").is_file()
    var = "_" + prog.upper().replace("-", "_") + "_COMPLETE"
    assert f"{var}=bash_source {prog}" in text
    script = _run([str(installed / prog)], env={**ENV, var: "bash_source"}).stdout
    assert f"complete -o nosort -F _{prog.replace('-', '_')}_completion {prog}" in script
