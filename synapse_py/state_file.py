"""Last-known-good membership, kept across restarts so an outage at start-up still serves backends.

The file is ours but lives on disk, so it is treated like registry data: every entry is validated
again on load, and anything unreadable means "no state", never a crash.

`StateWriter` writes it on its own thread, off the change path: the reconciler hands it each
applied membership and goes on; while a write runs, newer memberships replace each other and
only the latest is written next. The document is joined from the backends' records (already
JSON), so 20,000 backends cost a few milliseconds, not a JSON encoding of each.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping, Sequence

from smartstack_common.atomic import write_atomic

from .backend import Backend, InvalidNode, backend_from_dict
from .background import LatestOnly
from .schema import NAME_PATTERN

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def save(path: str, membership: Mapping[str, Sequence[Backend]], now: float | None = None) -> None:
    """Write `membership` (service -> backends) atomically, stamped with the time."""
    write_atomic(path, document(membership, time.time() if now is None else now))


def document(membership: Mapping[str, Sequence[Backend]], saved_at: float) -> str:
    """The file's JSON text: each backend is its record (Ruby's file_output keys, in order)."""
    services = ",\n".join(
        f" {json.dumps(name, ensure_ascii=False)}: [{','.join(b.record for b in backends)}]"
        for name, backends in membership.items()
    )
    head = f'{{"version": {FORMAT_VERSION}, "saved_at": {json.dumps(saved_at)}'
    return f'{head}, "services": {{\n{services}\n}}}}\n'


class StateWriter:
    """Saves the latest membership handed to it on a thread of its own (see the module
    docstring and synapse_py/background.py): a failed write is logged, counted in `failures`
    and retried unless a newer membership came."""

    def __init__(self, path: str, retry: float = 2.0):
        self.path = path
        self.writes = 0
        self._worker: LatestOnly[Mapping[str, Sequence[Backend]]] = LatestOnly(
            "state-file", self._write, retry
        )

    @property
    def failures(self) -> int:
        return self._worker.failures

    def submit(self, membership: Mapping[str, Sequence[Backend]]) -> None:
        """Write `membership` soon (a dict of immutable tuples: it is not copied)."""
        self._worker.submit(membership)

    def flush(self, timeout: float) -> bool:
        """Wait until every submitted membership was written (or failed); False on timeout."""
        return self._worker.flush(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is pending (bounded by `timeout`), then end the thread."""
        self._worker.stop(timeout)

    def _write(self, membership: Mapping[str, Sequence[Backend]]) -> None:
        try:
            save(self.path, membership)
        except OSError as e:
            raise OSError(e.errno, f"cannot write state file {self.path}: {e.strerror}") from e
        self.writes += 1


def load(path: str, ttl: float, now: float | None = None) -> dict[str, list[Backend]]:
    """The saved membership, or {} if the file is missing, corrupt or older than `ttl` seconds."""
    return load_saved(path, ttl, now)[0]


def load_saved(
    path: str, ttl: float, now: float | None = None
) -> tuple[dict[str, list[Backend]], float]:
    """`load`'s membership and when it was saved (0.0 with no membership)."""
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
        services = _fresh_services(document, ttl, time.time() if now is None else now)
    except FileNotFoundError:
        return {}, 0.0
    except (OSError, ValueError, RecursionError) as e:
        log.warning("state file %s ignored: %s", path, str(e)[:200])
        return {}, 0.0
    found = {name: _valid_backends(path, name, entries) for name, entries in services.items()}
    return found, float(document["saved_at"])


def _fresh_services(document: object, ttl: float, now: float) -> dict[str, list]:
    """The `services` mapping of a well-formed, fresh document; ValueError otherwise."""
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        raise ValueError("not a synapse-py state file of a known version")
    saved_at, services = document.get("saved_at"), document.get("services")
    if isinstance(saved_at, bool) or not isinstance(saved_at, int | float):
        raise ValueError("malformed state file")
    if not isinstance(services, dict):
        raise ValueError("malformed state file")
    if abs(now - saved_at) > ttl:  # a clock jump backwards also makes it untrustworthy
        raise ValueError(f"older than state_file_ttl ({ttl:g}s)")
    if not all(_valid_name(n) and isinstance(v, list) for n, v in services.items()):
        raise ValueError("malformed services")
    return services


def _valid_name(name: str) -> bool:
    return bool(re.fullmatch(NAME_PATTERN, name)) and len(name) <= 255


def _valid_backends(path: str, service: str, entries: list) -> list[Backend]:
    backends = []
    for entry in entries:
        try:
            backends.append(backend_from_dict(entry))
        except InvalidNode as e:
            log.warning("state file %s: skipped a backend of %s: %s", path, service, e)
    return backends
