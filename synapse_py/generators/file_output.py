"""The file_output generator: `<output_directory>/<service>.json`, as Ruby synapse writes it.

Each file holds the bytes Ruby writes: a compact JSON array of the backends served, in the order
served (ZooKeeper's listing order, then kept default servers), each as its `Backend.record`
(Ruby's keys and order with nulls; default servers as configured), no final newline. It is
replaced atomically and only when its content changes (readers may watch the file). As in Ruby,
every other `*.json` file in the folder is removed: those of services no longer configured and
of services with `"file_output": {"disabled": true}`. An unchanged file costs one stat per apply
(generators/installed.py), not a read.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

from ..backend import Backend
from ..config import FileOutputConfig, ServiceConfig, SynapseConfig
from . import register
from .base import GeneratorBase, Location
from .installed import InstalledFiles

log = logging.getLogger(__name__)


@register("file_output")
class FileOutputGenerator(GeneratorBase):
    """Writes one JSON file per configured service."""

    name = "file_output"

    @classmethod
    def section(cls, config: SynapseConfig) -> FileOutputConfig | None:
        return config.file_output

    @classmethod
    def owned(cls, section: FileOutputConfig) -> list[Location]:
        return [(section.output_directory, "")]

    def __init__(self, config: FileOutputConfig):
        self.config = config
        self.writes = 0
        self._files = InstalledFiles()

    def apply(
        self, services: Sequence[ServiceConfig], membership: Mapping[str, Sequence[Backend]]
    ) -> None:
        """Write the file of every enabled service in `membership`; remove the other files.

        An enabled service missing from `membership` (not discovered yet) keeps its old file.
        """
        os.makedirs(self.config.output_directory, exist_ok=True)
        enabled = [s for s in services if not s.file_output.disabled]
        for service in enabled:
            if service.name in membership:
                self._write(self._path(service.name), render(membership[service.name]))
        self._purge({f"{s.name}.json" for s in enabled})

    def _path(self, service_name: str) -> str:
        return os.path.join(self.config.output_directory, f"{service_name}.json")

    def _write(self, path: str, content: str) -> None:
        # compared with the disk (one stat when unchanged): that is what readers see
        if self._files.current(path) != content:
            self._files.write(path, content)
            self.writes += 1

    def _purge(self, keep: set[str]) -> None:
        for entry in os.scandir(self.config.output_directory):
            if _is_service_file(entry) and entry.name not in keep:
                log.info("file_output: removing %s (not a service it writes)", entry.path)
                os.unlink(entry.path)
                self._files.forget(entry.path)


def render(backends: Sequence[Backend]) -> str:
    """The file content: the backends' records, in order, as Ruby's `to_json` writes the list."""
    return "[" + ",".join(b.record for b in backends) + "]"


def _is_service_file(entry: os.DirEntry) -> bool:
    """`*.json` as the Ruby synapse globs it: hidden files (our temp files) are not matched."""
    return entry.name.endswith(".json") and not entry.name.startswith(".") and entry.is_file()
