"""Install a file atomically: temp file beside it, fsync, validate, rename, fsync the folder."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable


def write_atomic(
    path: str,
    data: bytes | str,
    mode: int = 0o644,
    validate: Callable[[str], None] | None = None,
) -> None:
    """Replace `path` with `data` so readers see the old or the new file, never a mix.

    `validate(temp_path)` may raise to abort: the temp file is removed, the live file untouched.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        _write_and_sync(fd, data.encode() if isinstance(data, str) else data, mode)
        if validate is not None:
            validate(temp)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_dir(folder)


def remove_stale_temps(folder: str, target: str = "") -> list[str]:
    """Delete the temp files a killed writer left in `folder` (only those of `target` if given).

    Call it before any writer starts: a live writer's temp file would be removed too.
    """
    prefix = f".{target}." if target else "."
    removed = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for name in os.listdir(folder):
            if name.startswith(prefix) and name.endswith(".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(folder, name))
                removed.append(name)
    return removed


def read_current(path: str) -> str | None:
    """The installed file's text, or None if it is missing or unreadable (then it is rewritten)."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, ValueError):
        return None


def _write_and_sync(fd: int, data: bytes, mode: int) -> None:
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fchmod(f.fileno(), mode)
        os.fsync(f.fileno())


def _fsync_dir(folder: str) -> None:
    """Make the rename itself durable."""
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
