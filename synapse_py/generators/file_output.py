"""The file_output generator: `<output_directory>/<service>.json`, as the Ruby synapse writes it.

Each file is a JSON array of the service's backends, sorted by host, port and name, replaced
atomically and only when its content changes (readers may watch the file). Like the Ruby synapse,
`*.json` files of services that are no longer configured are removed from the folder.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence

from ..atomic import read_current, write_atomic
from ..backend import Backend
from ..config import FileOutputConfig, ServiceConfig
from . import register

log = logging.getLogger(__name__)


@register("file_output")
class FileOutputGenerator:
    """Writes one JSON file per configured service."""

    name = "file_output"

    def __init__(self, config: FileOutputConfig):
        self.config = config
        self.writes = 0

    def apply(
        self, services: Sequence[ServiceConfig], membership: Mapping[str, Sequence[Backend]]
    ) -> None:
        """Write the file of every service in `membership`; remove files of unconfigured ones.

        A configured service missing from `membership` (not discovered yet) keeps its old file.
        """
        os.makedirs(self.config.output_directory, exist_ok=True)
        for service in services:
            if service.name in membership:
                self._write(self._path(service.name), render(membership[service.name]))
        self._purge({f"{s.name}.json" for s in services})

    def _path(self, service_name: str) -> str:
        return os.path.join(self.config.output_directory, f"{service_name}.json")

    def _write(self, path: str, content: str) -> None:
        # read each time: the disk, not memory, is what readers see
        if read_current(path) != content:
            write_atomic(path, content)
            self.writes += 1

    def _purge(self, keep: set[str]) -> None:
        for entry in os.scandir(self.config.output_directory):
            if _is_service_file(entry) and entry.name not in keep:
                log.info("file_output: removing %s (service no longer configured)", entry.path)
                os.unlink(entry.path)


def render(backends: Sequence[Backend]) -> str:
    """The file content: backends as `Backend.to_json()`, in a stable order."""
    ordered = sorted(backends, key=lambda b: (b.host, b.port, b.name))
    return json.dumps([b.to_json() for b in ordered], sort_keys=True) + "\n"


def _is_service_file(entry: os.DirEntry) -> bool:
    """`*.json` as the Ruby synapse globs it: hidden files (our temp files) are not matched."""
    return entry.name.endswith(".json") and not entry.name.startswith(".") and entry.is_file()
