"""A distribution made by a test, on a folder put on sys.path: how a third-party plug-in installs.

`distribution(folder, "toy-x", {"toy_x": SOURCE}, {"synapse_py.generators": {"name": "toy_x:Cls"}})`
writes the modules and a `.dist-info` whose entry_points.txt publishes the entry points, which
`importlib.metadata` then finds as it finds those of an installed wheel.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path


def distribution(
    folder: Path,
    name: str,
    modules: Mapping[str, str],
    entry_points: Mapping[str, Mapping[str, str]],
) -> Path:
    """The folder, holding `modules` (module name -> source) and `name`'s metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (folder / f"{module}.py").write_text(textwrap.dedent(source))
    info = folder / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    groups = [
        f"[{group}]\n" + "".join(f"{n} = {target}\n" for n, target in points.items())
        for group, points in entry_points.items()
    ]
    (info / "entry_points.txt").write_text("\n".join(groups))
    return folder


def env_with(plugins: Path) -> dict[str, str]:
    """The environment of a child process that sees the plug-ins (and this interpreter's path)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugins), *sys.path])}
