"""Running a command as an unprivileged user, to meet PermissionError as an operator would (the
tests run as root, who reads and writes anywhere)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def as_nobody() -> list[str]:
    """A prefix running a command as an unprivileged user (nothing when not root)."""
    if os.getuid() != 0:
        return []
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@contextmanager
def open_folder(prefix: str) -> Iterator[Path]:
    """A temp folder an unprivileged user can enter (pytest's own are root's, mode 0700); it and
    what is in it are removed afterwards, whatever modes a test left."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for sub in folder.rglob("*"):
            if sub.is_dir():
                sub.chmod(0o755)
        shutil.rmtree(folder)


def run_unprivileged(module: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m module args...` as an unprivileged user, from /, its output captured."""
    return subprocess.run(
        [*as_nobody(), sys.executable, "-m", module, *args],
        capture_output=True, text=True, timeout=timeout, cwd="/",
    )  # fmt: skip


def unprivileged_stderr(module: str, *args: str, code: int) -> list[str]:
    """Run `python -m module args...` unprivileged; assert it exited `code` without a traceback
    and return its stderr lines."""
    proc = run_unprivileged(module, *args)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr.splitlines()


def unlisted_folder(parent: Path, name: str = "services.d") -> Path:
    """A folder root owns and an unprivileged user cannot list."""
    folder = parent / name
    folder.mkdir(mode=0o700)
    return folder
