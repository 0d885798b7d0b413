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
import threading
import time
from collections.abc import Mapping, Sequence

from smartstack_common.atomic import write_atomic

from .backend import Backend, InvalidNode, backend_from_dict
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
    docstring); a failed write is logged, counted in `failures` and retried after `retry`
    seconds unless a newer membership came."""

    def __init__(self, path: str, retry: float = 2.0):
        self.path = path
        self.retry = retry
        self.failures = 0
        self.writes = 0
        self._pending: Mapping[str, Sequence[Backend]] | None = None
        self._busy = False
        self._stopping = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="state-file", daemon=True)
        self._thread.start()

    def submit(self, membership: Mapping[str, Sequence[Backend]]) -> None:
        """Write `membership` soon (a dict of immutable tuples: it is not copied)."""
        with self._cond:
            self._pending = membership
            self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until every submitted membership was written (or failed); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending is not None or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is pending (bounded by `timeout`), then end the thread."""
        self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stopping:
                    self._cond.wait()
                if self._pending is None:
                    return
                membership, self._pending, self._busy = self._pending, None, True
            ok = self._write(membership)
            with self._cond:
                self._busy = False
                if not ok and self._pending is None and not self._stopping:
                    self._cond.wait(self.retry)  # a newer membership ends the wait early
                    if self._pending is None:
                        self._pending = membership
                self._cond.notify_all()

    def _write(self, membership: Mapping[str, Sequence[Backend]]) -> bool:
        try:
            save(self.path, membership)
        except OSError as e:
            self.failures += 1
            log.error("cannot write state file %s: %s (%d failed writes so far); retrying in %gs",
                      self.path, e, self.failures, self.retry)  # fmt: skip
            return False
        self.writes += 1
        return True


def load(path: str, ttl: float, now: float | None = None) -> dict[str, list[Backend]]:
    """The saved membership, or {} if the file is missing, corrupt or older than `ttl` seconds."""
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
        services = _fresh_services(document, ttl, time.time() if now is None else now)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as e:
        log.warning("state file %s ignored: %s", path, str(e)[:200])
        return {}
    return {name: _valid_backends(path, name, entries) for name, entries in services.items()}


def _fresh_services(document: object, ttl: float, now: float) -> dict[str, list]:
    """The `services` mapping of a well-formed, fresh document; ValueError otherwise."""
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        raise ValueError("not a synapse-py state file of a known version")
    saved_at, services = document.get("saved_at"), document.get("services")
    if type(saved_at) not in (int, float) or not isinstance(services, dict):
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
