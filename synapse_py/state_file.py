"""Last-known-good membership, kept across restarts so an outage at start-up still serves backends.

The file is ours but lives on disk, so it is treated like registry data: every entry is validated
again on load, and anything unreadable means "no state", never a crash.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping, Sequence

from smartstack_common.atomic import write_atomic

from .backend import Backend, InvalidNode, backend_from_dict
from .schema import NAME_PATTERN

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def save(path: str, membership: Mapping[str, Sequence[Backend]], now: float | None = None) -> None:
    """Write `membership` (service -> backends) atomically, stamped with the time."""
    document = {
        "version": FORMAT_VERSION,
        "saved_at": time.time() if now is None else now,
        "services": {
            name: [b.to_json() for b in backends] for name, backends in membership.items()
        },
    }
    write_atomic(
        path, json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    )  # records keep their order


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
