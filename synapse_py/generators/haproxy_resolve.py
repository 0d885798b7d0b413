"""Bounded hostname resolution: HAProxy 2.6's `set server addr` takes only IP addresses."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait

from ..backend import is_ip_literal

log = logging.getLogger(__name__)


class HostResolver:
    """Resolves hostnames in parallel; a lookup that outlives `timeout` counts as a failure."""

    def __init__(self, timeout: float, workers: int = 4):
        self.timeout = timeout
        self.failures = 0
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="resolve")

    def resolve_all(self, hosts: Iterable[str]) -> dict[str, str | None]:
        """Map each host to an IP address, or None when it did not resolve in time."""
        result: dict[str, str | None] = {}
        names = []
        for host in hosts:
            if is_ip_literal(host):
                result[host] = host
            else:
                names.append(host)
        if names:
            result.update(self._lookup(names))
        return result

    def close(self) -> None:
        """Stop the worker threads (a stuck getaddrinfo is abandoned, not waited for)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _lookup(self, names: list[str]) -> dict[str, str | None]:
        futures = {name: self._pool.submit(_first_address, name) for name in names}
        wait(futures.values(), timeout=self.timeout)
        resolved = {
            name: f.result() if f.done() and not f.exception() else None
            for name, f in futures.items()
        }
        for name, address in resolved.items():
            if address is None:
                self.failures += 1
                log.warning(
                    "backend host %r did not resolve within %.1fs; skipped", name, self.timeout
                )
        return resolved


def _first_address(host: str) -> str:
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return str(infos[0][4][0])
