"""Import walls: smartstack_common imports neither daemon; nerve_py and synapse_py not each other.

Every module's source is parsed (ast), so an import inside a function or under TYPE_CHECKING counts
too. The wire contract between the daemons is the znode format (tests/contract), never shared code.
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = "smartstack_common"
DAEMONS = ("nerve_py", "synapse_py")
# package -> the first-party packages it must never import
FORBIDDEN = {
    SHARED: set(DAEMONS),
    "nerve_py": {"synapse_py"},
    "synapse_py": {"nerve_py"},
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, root: Path) -> set[str]:
    """The absolute names of every module `path` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            names.add(".".join([*base, *([node.module] if node.module else [])]))
    return names


def violations(root: Path) -> list[str]:
    """`module imports name` for every import that crosses a wall, in the tree under `root`."""
    found = []
    for top, forbidden in FORBIDDEN.items():
        for path in sorted((root / top).rglob("*.py")):
            for name in sorted(imported(path, root)):
                if name.split(".")[0] in forbidden:
                    found.append(f"{module_name(path, root)} imports {name}")
    return found


def test_no_import_crosses_a_wall():
    assert violations(ROOT) == []


def test_the_daemons_use_the_shared_package():
    for daemon in DAEMONS:
        names = set().union(*(imported(p, ROOT) for p in (ROOT / daemon).rglob("*.py")))
        assert any(n.split(".")[0] == SHARED for n in names), daemon


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        (f"{SHARED}/x.py", "import nerve_py.config", "smartstack_common.x imports nerve_py.config"),
        (f"{SHARED}/x.py", "def f():\n    from synapse_py import cli", "imports synapse_py"),
        ("nerve_py/sub/y.py", "from ...synapse_py import backend", "imports synapse_py"),
        ("synapse_py/z.py", "from nerve_py.registration import payload", "imports nerve_py."),
    ],
)
def test_the_walk_catches_each_kind_of_crossing(tmp_path, module, source, expected):
    for top in FORBIDDEN:
        (tmp_path / top).mkdir()
        (tmp_path / top / "__init__.py").write_text("")
    path = tmp_path / module
    path.parent.mkdir(exist_ok=True)
    path.write_text(source + "\n")
    found = violations(tmp_path)
    assert len(found) == 1 and expected in found[0]


def test_relative_imports_inside_a_package_are_not_crossings(tmp_path):
    for top in FORBIDDEN:
        (tmp_path / top).mkdir()
        (tmp_path / top / "__init__.py").write_text("")
    (tmp_path / "synapse_py" / "gen").mkdir()
    (tmp_path / "synapse_py" / "gen" / "a.py").write_text("from ..backend import Backend\n")
    assert imported(tmp_path / "synapse_py" / "gen" / "a.py", tmp_path) == {"synapse_py.backend"}
    assert violations(tmp_path) == []


def test_every_package_folder_ships_in_the_wheel():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    folders = {
        module_name(init, ROOT)
        for top in FORBIDDEN
        for init in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert folders <= listed, sorted(folders - listed)
