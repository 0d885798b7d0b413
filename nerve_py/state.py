"""nerve_py's local state folder: maintenance flags (survive restarts) and the status file."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path

from smartstack_common.atomic import write_atomic

from .errors import SetupError

PRIVATE = 0o600  # as before the shared writer: the flags and status are nerve-py's own


class StateDir:
    """`<state_dir>/maintenance/<service>` flags and `<state_dir>/status.json`."""

    def __init__(self, root: str):
        self.root = Path(root)
        self.maint_dir = self.root / "maintenance"
        self.status_path = self.root / "status.json"
        self._flags = _FlagFolder(str(self.maint_dir))

    def ensure(self) -> None:
        try:
            self.maint_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SetupError([f"state_dir {self.root}: cannot create: {e.strerror}"]) from None

    def problems(self) -> list[str]:
        """Why the flags or the status file could not be written here ([] when they can)."""
        try:
            self.ensure()
        except SetupError as e:
            return list(e.problems)
        where = {f"state_dir {self.root}": self.root, f"state_dir {self.maint_dir}": self.maint_dir}
        found = ((name, writable_folder(folder)) for name, folder in where.items())
        return [f"{name}: {problem}" for name, problem in found if problem]

    def in_maintenance(self, service: str) -> bool:
        return self._flags.has(service)

    def set_maintenance(self, service: str, on: bool) -> None:
        self.ensure()
        flag = self.maint_dir / service
        try:
            if on:
                write_atomic(str(flag), b"maintenance\n", PRIVATE)
            else:
                flag.unlink(missing_ok=True)
        except OSError as e:
            raise SetupError(
                [f"state_dir {self.root}: cannot write {flag}: {e.strerror}"]
            ) from None

    def write_status(self, status: dict) -> None:
        # no indent: json's C encoder is used only without one (10x less CPU for 1000 services)
        write_atomic(str(self.status_path), json.dumps(status, sort_keys=True).encode(), PRIVATE)

    def read_status(self) -> dict:
        try:
            return json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return {}


def writable_folder(folder: Path) -> str | None:
    """None if a file can be created in `folder` (tried for real: root ignores the mode bits),
    else the reason."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".nerve-py-probe."):
            return None
    except FileNotFoundError:
        return "folder does not exist"
    except OSError as e:
        return f"cannot write there: {e.strerror}"


class _FlagFolder:
    """The names in a folder, listed again only when its mtime says they may have changed.

    A flag check per service per round is one stat of the folder instead of a path lookup each.
    A folder changed within the last seconds is always listed again: two changes inside one mtime
    granule (coarse on some file systems) must not hide the second.
    """

    RECENT = 2.0

    def __init__(self, path: str):
        self.path = path
        self._key: tuple | None = None
        self._names: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def has(self, name: str) -> bool:
        if os.sep in name or name in (".", ".."):
            return os.path.exists(os.path.join(self.path, name))
        return name in self._current()

    def _current(self) -> frozenset[str]:
        try:
            st = os.stat(self.path)
        except OSError:
            return frozenset()
        key = (st.st_ino, st.st_mtime_ns)
        recent = time.time() - st.st_mtime < self.RECENT
        with self._lock:
            if key != self._key or recent:
                self._names, self._key = self._list(), key
            return self._names

    def _list(self) -> frozenset[str]:
        try:
            return frozenset(os.listdir(self.path))
        except OSError:
            return frozenset()
