"""nerve_py's local state folder: maintenance flags (survive restarts) and the status file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .errors import NerveError


class StateDir:
    """`<state_dir>/maintenance/<service>` flags and `<state_dir>/status.json`."""

    def __init__(self, root: str):
        self.root = Path(root)
        self.maint_dir = self.root / "maintenance"
        self.status_path = self.root / "status.json"

    def ensure(self) -> None:
        try:
            self.maint_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise NerveError(f"state_dir {self.root}: cannot create: {e.strerror}") from None

    def in_maintenance(self, service: str) -> bool:
        return (self.maint_dir / service).exists()

    def set_maintenance(self, service: str, on: bool) -> None:
        self.ensure()
        flag = self.maint_dir / service
        if on:
            write_atomic(flag, b"maintenance\n")
        else:
            flag.unlink(missing_ok=True)

    def write_status(self, status: dict) -> None:
        write_atomic(self.status_path, json.dumps(status, indent=2, sort_keys=True).encode())

    def read_status(self) -> dict:
        try:
            return json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return {}


def write_atomic(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename: readers see the old or the new file, whole."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
